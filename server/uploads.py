"""Uploads stream to a temporary folder on disk, counted and cut off at CCMAP_MAX_UPLOAD_MB.

`receive_upload` is the one way a route reads an uploaded file: the body (raw, or the `file`
part of a multipart form) goes to `<tmp>/ccmap-upload-XXXX/upload<suffix>`, never whole into
memory. The caller owns the folder and removes it with `Upload.cleanup()` (a job does so when
it ends); on any error while receiving, it is removed before the error propagates.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import anyio
from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from geo.model.errors import InvalidInput, TooLarge

MAX_FORM_FIELDS = 50
MAX_FORM_FILES = 50  # file parts of one receive_form (e.g. an inspection's photos)
MAX_FIELD_BYTES = 1024 * 1024  # a text field (e.g. a category map) in a multipart form
COPY_CHUNK = 1024 * 1024


class _Received:
    """What every received form has: its temporary folder and its text fields."""

    folder: Path
    fields: dict[str, list[str]]

    def field(self, name: str) -> str | None:
        """The last value of a text form field, or None."""
        values = self.fields.get(name)
        return values[-1] if values else None

    def cleanup(self) -> None:
        """Remove the temporary folder and the files in it."""
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class Upload(_Received):
    """An uploaded file on disk, its name as sent, and the other form fields."""

    folder: Path
    path: Path
    filename: str
    size: int
    content_type: str
    fields: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class FilePart:
    """One file of a multipart form, on disk: its form field, path, name as sent, size."""

    name: str
    path: Path
    filename: str
    size: int
    content_type: str


@dataclass
class FormUpload(_Received):
    """A multipart form received by receive_form: its files on disk and its text fields."""

    folder: Path
    files: list[FilePart] = field(default_factory=list)
    fields: dict[str, list[str]] = field(default_factory=dict)


def upload_limit(mb: float) -> int:
    """Bytes allowed for CCMAP_MAX_UPLOAD_MB."""
    return int(mb * 1e6)


def _too_large(limit: int, size: int | None = None) -> TooLarge:
    sent = f"upload is {size / 1e6:.3g} MB; " if size is not None else "upload exceeds "
    return TooLarge(f"{sent}the limit is {limit / 1e6:.3g} MB (CCMAP_MAX_UPLOAD_MB)",
                    limit_mb=limit / 1e6)


def _suffix(filename: str) -> str:
    """The file's last two extensions (.csv, .geojson, .shp.zip), reduced to safe characters;
    the user's name is never part of the path."""
    suffix = "".join(Path(Path(filename).name).suffixes[-2:]).lower()
    return re.sub(r"[^a-z0-9.]", "", suffix)[:20]


async def _counted(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The request body in chunks; TooLarge as soon as it passes limit bytes."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        yield chunk


async def receive_upload(request: Request, limit: int, file_field: str = "file",
                         default_name: str = "upload.geojson") -> Upload:
    """Stream the request's file to disk: the `file_field` part of a multipart form, or else
    the raw body (named default_name). 413 past limit bytes (Content-Length is checked
    first), 400 for a malformed form or a form without the file."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, int(declared))
    folder = Path(tempfile.mkdtemp(prefix="ccmap-upload-"))
    try:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            return await _receive_form(request, limit, folder, file_field)
        path = folder / f"upload{_suffix(default_name)}"
        size = 0
        async with await anyio.open_file(path, "wb") as out:
            async for chunk in _counted(request, limit):
                size += len(chunk)
                await out.write(chunk)
        return Upload(folder, path, default_name, size, content_type)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


async def _receive_form(request: Request, limit: int, folder: Path,
                        file_field: str) -> Upload:
    # starlette's parser spools each file part to a SpooledTemporaryFile (memory up to 1 MB,
    # then an unnamed file on disk) and closes them all if the stream fails; one file only
    parser = MultiPartParser(request.headers, _counted(request, limit), max_files=1,
                             max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FIELD_BYTES)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidInput(f"malformed multipart upload: {exc.message}") from None
    try:
        fields: dict[str, list[str]] = {}
        part = None
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key == file_field:
                    part = value
            else:
                fields.setdefault(key, []).append(value)
        if part is None or not part.filename:
            raise InvalidInput(f"multipart upload needs a `{file_field}` field with a file name")
        path = folder / f"upload{_suffix(part.filename)}"
        size = await anyio.to_thread.run_sync(_copy, part.file, path)
        return Upload(folder, path, part.filename, size,
                      part.content_type or "application/octet-stream", fields)
    finally:
        await form.close()


async def receive_form(request: Request, limit: int,
                       max_files: int = MAX_FORM_FILES) -> FormUpload:
    """Stream a multipart form with up to max_files file parts (any field names) to disk, as
    receive_upload does for one file: 413 past limit bytes (Content-Length is checked first),
    400 for a body that is not a well-formed multipart form. Nothing is left on disk after an
    error; the caller removes the folder with FormUpload.cleanup()."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput("send a multipart/form-data body")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, int(declared))
    folder = Path(tempfile.mkdtemp(prefix="ccmap-upload-"))
    try:
        parser = MultiPartParser(request.headers, _counted(request, limit),
                                 max_files=max_files, max_fields=MAX_FORM_FIELDS,
                                 max_part_size=MAX_FIELD_BYTES)
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise InvalidInput(f"malformed multipart upload: {exc.message}") from None
        received = FormUpload(folder)
        try:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    path = folder / f"part{len(received.files)}{_suffix(value.filename or '')}"
                    size = await anyio.to_thread.run_sync(_copy, value.file, path)
                    received.files.append(FilePart(key, path, value.filename or "", size,
                                                   value.content_type
                                                   or "application/octet-stream"))
                else:
                    received.fields.setdefault(key, []).append(value)
        finally:
            await form.close()
        return received
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _copy(source: IO[bytes], path: Path) -> int:
    source.seek(0)
    with path.open("wb") as out:
        shutil.copyfileobj(source, out, COPY_CHUNK)
        return out.tell()
