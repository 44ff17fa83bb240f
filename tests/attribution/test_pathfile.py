from pathlib import Path

import pytest

from kenning.attribution.pathfile import PathFileError, read_path_file
from kenning.errors import FieldError

CHANNEL_ATTRIBUTION_STYLE = b"""path;total_conversions;total_conversion_value;total_null
eta > iota > alpha > eta;1;0.244;3
iota > iota > iota > iota;2;3.195;6
alpha;0;0;4
"""


def test_reads_a_channelattribution_file_with_its_columns(tmp_path: Path) -> None:
    file = tmp_path / "Data.csv"
    file.write_bytes(CHANNEL_ATTRIBUTION_STYLE)
    paths = read_path_file(file, nulls_column="total_null", value_column="total_conversion_value")
    assert paths.names == ("alpha", "eta", "iota")
    assert [paths.path_text(i) for i in range(paths.count)] == [
        "eta > iota > alpha > eta",
        "iota > iota > iota > iota",
        "alpha",
    ]
    assert paths.conversions.tolist() == [1.0, 2.0, 0.0]
    assert paths.nulls.tolist() == [3.0, 6.0, 4.0]
    assert paths.values.tolist() == [0.244, 3.195, 0.0]


def test_optional_columns_default_to_zero_and_spaces_around_channels_are_trimmed() -> None:
    paths = read_path_file(
        b"journey,conv\n a>b  > c ,2\nb,1\n", path_column="journey", conversions_column="conv"
    )
    assert paths.path_text(0) == "a > b > c"
    assert paths.nulls.tolist() == [0.0, 0.0] and paths.values.tolist() == [0.0, 0.0]


def test_a_custom_separator_and_delimiter() -> None:
    paths = read_path_file(
        b"path|n\nsearch, email, web|4\n",
        conversions_column="n",
        separator=",",
        delimiter="|",
    )
    assert paths.path_text(0, " / ") == "search / email / web"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (b"route,total_conversions\na,1\n", "paths:1", "no 'path' column"),
        (
            b"path,total_conversions\na,1\nb,lots\n",
            "paths:3.total_conversions",
            "'lots' is not a number",
        ),
        (b"path,total_conversions\na,1\nb,-2\n", "paths:3.total_conversions", "at least 0"),
        (b"path,total_conversions\na,1\nb,\n", "paths:3.total_conversions", "not a number"),
        (b"path,total_conversions\na,nan\n", "paths:2.total_conversions", "finite"),
        (b"path,total_conversions\na,1\n,1\n", "paths:3.path", "the path is empty"),
        (b"path,total_conversions\na > > b,1\n", "paths:2.path", "'a > > b' has an empty channel"),
    ],
)
def test_bad_files_are_refused_with_the_line_and_column(
    data: bytes, field: str, message: str
) -> None:
    with pytest.raises(PathFileError, match=message) as raised:
        read_path_file(data)
    assert raised.value.field == field
    assert isinstance(raised.value, FieldError)


def test_a_bad_null_or_value_column_is_named() -> None:
    data = b"path,total_conversions,nulls,value\na,1,2,9.5\nb,0,x,0\n"
    with pytest.raises(PathFileError) as raised:
        read_path_file(data, nulls_column="nulls", value_column="value", name="upload.csv")
    assert raised.value.field == "upload.csv:3.nulls"


def test_a_file_with_only_a_header_has_no_paths() -> None:
    assert read_path_file(b"path,total_conversions\n").count == 0


def test_a_blank_separator_is_refused() -> None:
    with pytest.raises(FieldError):
        read_path_file(b"path,total_conversions\na,1\n", separator=" ")


def test_more_channels_than_codes_are_refused() -> None:
    rows = "\n".join(f"c{i},1" for i in range(40_000))
    with pytest.raises(PathFileError, match="40,000 distinct channels") as raised:
        read_path_file(f"path,total_conversions\n{rows}\n".encode())
    assert raised.value.field == "paths:path"
