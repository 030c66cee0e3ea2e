"""Import files in the layouts curators have into the store."""

from blossom_studio.ingest.errors import ImportFileError, RecordError
from blossom_studio.ingest.importer import ImportCancelled, ImportReport, import_files, resolve_layout

__all__ = ["ImportCancelled", "ImportFileError", "ImportReport", "RecordError", "import_files", "resolve_layout"]
