"""Named exceptions of the library; the CLI and the portal turn them into messages and 4xx answers."""


class DuizhaoError(Exception):
    """Base class: something the user can be told about in one sentence (in Chinese); ``code`` is
    its stable English name for scripts (the JSON API's ``code``)."""

    code = "error"


class DocumentNotFound(DuizhaoError):
    code = "document_not_found"

    def __init__(self, doc_id: str):
        super().__init__(f"没有这份材料：“{doc_id}”")
        self.doc_id = doc_id


class BadQuery(DuizhaoError):
    """A query that cannot be run: empty, too long, or malformed."""

    code = "bad_query"


class UnreadableFile(DuizhaoError):
    """A file that cannot be ingested; the message says why."""


class IndexFormatMismatch(DuizhaoError):
    """The index was written with other parameters than this program uses (``indexer upgrade``)."""

    def __init__(self, message: str, differences: dict[str, tuple]):
        super().__init__(message)
        self.differences = differences


class IndexTooNew(DuizhaoError):
    """The index was written by a newer version of the program."""


class InvalidMetadata(DuizhaoError):
    """A metadata value that cannot be stored (too long, control characters, an empty title)."""

    code = "invalid_metadata"
