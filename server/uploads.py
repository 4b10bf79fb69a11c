"""Uploads stream to a temporary folder on disk, counted and cut off at CCMAP_MAX_UPLOAD_MB.

`receive_upload` (one file: a layer, a ledger, a photo) and `receive_form` (a form with several
files: an inspection and its photos) are the only ways a route reads an uploaded file: the
body (raw, or the file parts of a multipart form) goes to `<tmp>/ccmap-upload-XXXX/`, never
whole into memory. Both take the limit from the settings and answer 413 in one style
(`too_large`: the size, the limit and the setting that sets it), as do the JSON bodies
(server/strict_json.py) and the photos' own limit (`check_size`). The caller owns the folder
and removes it with `cleanup()` (a job does so when it ends); on any error while receiving, it
is removed before the error propagates.
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
from server.settings import Settings

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


def upload_limit(settings: Settings) -> int:
    """Bytes allowed in one request body (CCMAP_MAX_UPLOAD_MB)."""
    return int(settings.max_upload_mb * 1e6)


def too_large(limit: int, size: int | None = None, what: str = "上传内容",
              setting: str = "CCMAP_MAX_UPLOAD_MB") -> TooLarge:
    """The 413 of a body or file over a limit (bytes): its size when known, the limit and the
    setting that sets it (`what` names the body or file, in Chinese: the catalog has its
    English)."""
    if size is not None:
        return TooLarge(f"{what}为 {size / 1e6:.3g} MB，超过上限 {limit / 1e6:.3g} MB"
                        f"（{setting}）", limit_mb=limit / 1e6)
    return TooLarge(f"{what}过大，上限为 {limit / 1e6:.3g} MB（{setting}）",
                    limit_mb=limit / 1e6)


def check_size(size: int, limit_mb: float, what: str, setting: str) -> None:
    """TooLarge (413) when a received file of `size` bytes is over `limit_mb` (a setting)."""
    if size > limit_mb * 1e6:
        raise too_large(int(limit_mb * 1e6), size, what, setting)


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
            raise too_large(limit)
        yield chunk


async def receive_upload(request: Request, settings: Settings, what: str = "该文件",
                         raw_name: str | None = None, file_field: str = "file") -> Upload:
    """Stream the request's file to disk: the `file_field` part of a multipart form, or, when
    raw_name is given, a raw body (named raw_name). 413 past CCMAP_MAX_UPLOAD_MB
    (Content-Length is checked first), 400 for another body, a malformed form or a form
    without the file (`what` names it in the message)."""
    content_type = request.headers.get("content-type", "")
    if raw_name is None and not content_type.startswith("multipart/form-data"):
        raise InvalidInput(f"请以 multipart 表单上传{what}，文件放在 `{file_field}` 字段")
    limit = _declared_within(request, settings)
    folder = Path(tempfile.mkdtemp(prefix="ccmap-upload-"))
    try:
        if content_type.startswith("multipart/form-data"):
            return await _receive_form(request, limit, folder, file_field)
        assert raw_name is not None
        path = folder / f"upload{_suffix(raw_name)}"
        size = 0
        async with await anyio.open_file(path, "wb") as out:
            async for chunk in _counted(request, limit):
                size += len(chunk)
                await out.write(chunk)
        return Upload(folder, path, raw_name, size, content_type)
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
        raise InvalidInput(f"multipart 上传格式有误：{exc.message}") from None
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
            raise InvalidInput(f"multipart 上传须有带文件名的 `{file_field}` 字段")
        path = folder / f"upload{_suffix(part.filename)}"
        size = await anyio.to_thread.run_sync(_copy, part.file, path)
        return Upload(folder, path, part.filename, size,
                      part.content_type or "application/octet-stream", fields)
    finally:
        await form.close()


def _declared_within(request: Request, settings: Settings) -> int:
    """The body limit in bytes, after refusing a body whose Content-Length is over it."""
    limit = upload_limit(settings)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit, int(declared))
    return limit


async def receive_form(request: Request, settings: Settings,
                       max_files: int = MAX_FORM_FILES) -> FormUpload:
    """Stream a multipart form with up to max_files file parts (any field names) to disk, as
    receive_upload does for one file: 413 past CCMAP_MAX_UPLOAD_MB (Content-Length is checked
    first),
    400 for a body that is not a well-formed multipart form. Nothing is left on disk after an
    error; the caller removes the folder with FormUpload.cleanup()."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput("请求体须为 multipart/form-data 格式")
    limit = _declared_within(request, settings)
    folder = Path(tempfile.mkdtemp(prefix="ccmap-upload-"))
    try:
        parser = MultiPartParser(request.headers, _counted(request, limit),
                                 max_files=max_files, max_fields=MAX_FORM_FIELDS,
                                 max_part_size=MAX_FIELD_BYTES)
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise InvalidInput(f"multipart 上传格式有误：{exc.message}") from None
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
