"""Bad input that names where it is bad."""


class FieldError(ValueError):
    """Input refused with the path of the bad part (``config.url``, ``message.body``,
    ``exclude[0]``): the API answers it as ``{"code", "message", "field"}``, the CLI as one
    line ``field: message``."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message
