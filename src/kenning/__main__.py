"""``python -m kenning`` is the ``kenning`` command."""

from kenning.cli.main import main

if __name__ == "__main__":
    main()
