"""Opening files that users supply: allow-listed drivers chosen by extension, checked content,
and limits on what a file may unpack to.

Nothing here lets GDAL or another library guess a format: a file is opened only with the one
driver its extension names, after its first bytes have been checked to match that format.

The policy, for every file a user hands us (HTTP upload or `ccmap import ...`):

* The format comes from the file name the user gave: .geojson/.json → GeoJSON, .gpkg →
  GeoPackage, .zip → one zipped Shapefile, .shp → a Shapefile with its sidecars (CLI), .csv →
  pandas, .xlsx/.xlsm → openpyxl, .osm/.osm.pbf → pyosmium. Anything else is refused.
* The content must be that format before any library sees it; a file that is something else
  (a GDAL VRT or GDALG document, an SQLite database named .geojson, ...) is an UnsafeFile.
* GDAL gets a driver-prefixed name in a private staging folder, so it cannot pick another
  driver even if a check above were missed: ``GeoJSON:<path>``, ``GPKG:<path>``, and for a
  Shapefile the *folder* holding only the .shp/.shx/.dbf/.prj/.cpg we put there (a folder is
  opened by the Shapefile driver; a VRT needs a file). ``/vsi...`` names never reach GDAL.
* Things that refer to other files or URLs are refused: VRT documents in any disguise,
  ``/vsi`` prefixes, GeoJSON ``crs`` members of type link/url (GDAL would fetch them),
  GeoPackages whose schema has views, non-rtree virtual tables or SQL calling file, network or
  OGR/GDAL functions (an ATTACH cannot be stored in a database file, so a schema is all a
  GeoPackage can carry), zip members that are symlinks, absolute or contain ``..``, nested
  archives or .vrt members, XML entities in OSM files.
* Archives are checked against FileLimits.max_unpacked_bytes from their declared sizes and
  again while we extract them ourselves (no ``/vsizip/``); tables and layers are checked
  against max_rows / max_features before everything is read, and every geometry against
  max_vertices by the importer.
"""

from __future__ import annotations

import codecs
import os
import re
import shutil
import sqlite3
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

import ijson

from geo.model.errors import InvalidInput, LimitExceeded, UnsafeFile

if TYPE_CHECKING:  # pandas and pyogrio are imported where a file is read: every `ccmap`
    import pandas as pd  # command and the server import this module for FileLimits


@dataclass(frozen=True)
class FileLimits:
    """Content limits for one user file (None: no limit)."""

    max_unpacked_bytes: int | None = None  # everything inside an archive (.zip, .xlsx)
    max_rows: int | None = None  # rows of a table (CSV, xlsx)
    max_features: int | None = None  # features of a layer file
    max_vertices: int | None = None  # vertices of one geometry
    setting_prefix: str = "CCMAP_"  # where the limits come from, for messages (CCMAP_CLI_)

    def setting(self, name: str) -> str:
        """The environment variable that sets the limit `name` (e.g. MAX_UNPACKED_MB)."""
        if name == "MAX_GEOMETRY_VERTICES":  # one setting for HTTP and the CLI
            return "CCMAP_" + name
        return self.setting_prefix + name


# --- formats ------------------------------------------------------------------------------

GEOJSON, GPKG, SHAPEFILE_ZIP, SHAPEFILE, CSV, XLSX, OSM_XML, OSM_PBF = (
    "GeoJSON", "GeoPackage", "zipped Shapefile", "Shapefile", "CSV", "xlsx", "OSM XML", "OSM PBF")
EXTENSIONS: dict[str, str] = {  # longest first where one ends another (.osm.pbf, .pbf)
    ".geojson": GEOJSON, ".json": GEOJSON, ".gpkg": GPKG, ".zip": SHAPEFILE_ZIP,
    ".shp": SHAPEFILE, ".csv": CSV, ".xlsx": XLSX, ".xlsm": XLSX, ".osm.pbf": OSM_PBF,
    ".pbf": OSM_PBF, ".osm": OSM_XML,
}
LAYER_FORMATS = (GEOJSON, GPKG, SHAPEFILE_ZIP, SHAPEFILE, CSV)
TABLE_FORMATS = (CSV, XLSX)
OSM_FORMATS = (OSM_XML, OSM_PBF)
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
REFUSED_MEMBERS = (".vrt", ".zip", ".gz", ".tgz", ".tar", ".7z", ".rar", ".bz2", ".xz",
                   ".zst", ".kmz", ".lz4")
SHP_MAGIC = b"\x00\x00\x27\x0a"  # file code 9994, big-endian, of .shp and .shx
GPKG_IDS = (b"GPKG", b"GP10", b"GP11")  # SQLite application_id of a GeoPackage
MAX_XLSX_RATIO = 200  # a bigger compression ratio of an xlsx part looks like a zip bomb
CHUNK = 1 << 20
# GDAL options pinned while reading user data, whatever the environment says: a GeoPackage
# view or trigger may not call OGR SQL functions that fetch URLs or read other datasets
GDAL_SAFE_OPTIONS = {"ALLOW_OGR_SQL_FUNCTIONS_FROM_TRIGGER_AND_VIEW": "NO"}
_MARKERS = (b"<ogrvrtdatasource", b"/vsi", b"<!entity")
_CRS_NAME = re.compile(r"^(urn:ogc:def:crs:[\w.:-]*|(epsg|esri|ogc|iau_\d+):[\w.-]+|crs84|"
                       r"http://www\.opengis\.net/def/crs/[\w/.-]+)$", re.IGNORECASE)
_GEOJSON_TYPES = {"featurecollection", "feature", "point", "multipoint", "linestring",
                  "multilinestring", "polygon", "multipolygon", "geometrycollection"}
# SQL in a GeoPackage schema that could read files, fetch URLs or load code
_BAD_SQL = re.compile(r"\b(attach|detach|load_extension|readfile|writefile|fts3_tokenizer|"
                      r"blobfromfile|blobtofile|import\w*|export\w*|xb_\w+|virtual\w+|"
                      r"(ogr|gdal)_\w+)\b|/vsi|://", re.IGNORECASE)


def file_format(filename: str, allowed: Iterable[str], hint: str) -> str:
    """The format a file's name (as the user gave it) selects, if it is one of `allowed`."""
    if "/vsi" in filename.lower():
        raise UnsafeFile(f"{filename!r}：不接受 GDAL /vsi… 名称")
    name = Path(filename).name.lower()
    allowed = tuple(allowed)
    for ext in sorted(EXTENSIONS, key=len, reverse=True):
        if name.endswith(ext) and name != ext:
            if EXTENSIONS[ext] in allowed:
                return EXTENSIONS[ext]
            break
    shown = Path(filename).suffix or Path(filename).name
    raise InvalidInput(f"不支持的文件类型 {shown!r}，请使用 {hint}")


def user_name(filename: str) -> str:
    """The base name of the file name a user gave, for messages; /vsi… names are refused."""
    if "/vsi" in filename.lower():
        raise UnsafeFile(f"{filename!r}：不接受 GDAL /vsi… 名称")
    return Path(filename).name


def check_path(path: Path, name: str) -> None:
    """A CLI path or staged upload: a regular file, named without /vsi."""
    if "/vsi" in str(path).lower():
        raise UnsafeFile(f"{name}：不接受 GDAL /vsi… 路径")
    if not path.exists():
        raise InvalidInput(f"找不到文件：{path}")
    if not path.is_file():
        raise InvalidInput(f"{name} 不是普通文件")


def _head(path: Path, size: int = 4096) -> bytes:
    with path.open("rb") as f:
        return f.read(size)


def _significant(head: bytes) -> bytes:
    """The head without a UTF-8 BOM and leading whitespace."""
    return head.removeprefix(codecs.BOM_UTF8).lstrip()


EMPTY, OTHER, SHAPEFILE_TEXT = "空文件", "其他格式", "Shapefile 文件"  # _what_is's answers


def _what_is(head: bytes) -> str:
    """What a file's first bytes show it to be, for messages."""
    start = _significant(head)
    lower = start[:4096].lower()
    if b"<ogrvrtdatasource" in lower:
        return "GDAL VRT 文档（会使 GDAL 读取其他文件）"
    if start.startswith(b"<"):
        return "XML 文档"
    if b"gdal_streamed_alg" in lower or b'"gdal_algorithm"' in lower:
        return "GDAL 算法（GDALG）文档（会使 GDAL 读取其他文件）"
    if head.startswith(b"SQLite format 3\x00"):
        return "SQLite 数据库"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip 压缩包"
    if head.startswith(SHP_MAGIC):
        return SHAPEFILE_TEXT
    if start[:1] in (b"{", b"["):
        return "JSON"
    if not start:
        return EMPTY
    return OTHER


def _disguised(name: str, expected: str, head: bytes) -> UnsafeFile:
    return UnsafeFile(f"{name} 不是 {expected}（其内容为：{_what_is(head)}）")


def scan_markers(path: Path, name: str) -> None:
    """Refuse a text file that contains a VRT document, a /vsi… name or an XML entity."""
    keep = max(len(m) for m in _MARKERS) - 1
    tail = b""
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            window = (tail + chunk).lower()
            for marker in _MARKERS:
                if marker in window:
                    what = {b"/vsi": "GDAL /vsi… 名称",
                            b"<!entity": "XML 实体声明"}.get(marker, "GDAL VRT 文档")
                    raise UnsafeFile(f"{name} 含有 {what}，可能使服务器读取其他文件或 URL，"
                                     "因此拒绝读取")
            tail = window[-keep:]


# --- limits -------------------------------------------------------------------------------

def _unpacked_limit(limits: FileLimits, name: str, size: int) -> LimitExceeded:
    limit = limits.max_unpacked_bytes or 0
    return LimitExceeded(f"{name} 解压后超过 {limit / 1e6:g} MB"
                         f"（{size / 1e6:.1f} MB），上限由 "
                         f"{limits.setting('MAX_UNPACKED_MB')} 设定",
                         limit=limit, setting=limits.setting("MAX_UNPACKED_MB"))


def copy_limited(src: IO[bytes], dst: IO[bytes], budget: int | None, name: str,
                 limits: FileLimits) -> int:
    """Copy src to dst, at most `budget` bytes (None: any); the bytes copied.

    This counts what really comes out of an archive, whatever its headers declared."""
    done = 0
    while chunk := src.read(CHUNK):
        done += len(chunk)
        if budget is not None and done > budget:
            raise _unpacked_limit(limits, name, done)
        dst.write(chunk)
    return done


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member may not be unpacked (None: it may), as a catalog term."""
    raw = info.filename
    parts = re.split(r"[\\/]", raw)
    if raw.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", raw):
        return "名称为绝对路径"
    if ".." in parts:
        return "路径指向压缩包之外（..）"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "是符号链接"
    if "/vsi" in raw.lower():
        return "名称含 GDAL /vsi… 路径"
    if raw.lower().endswith(REFUSED_MEMBERS):
        return "是 VRT 文件或嵌套压缩包"
    if info.flag_bits & 0x1:
        return "是加密成员"
    return None


def _open_zip(path: Path, name: str, what: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise InvalidInput(f"{name} 不是有效的 {what}") from None


def check_archive(zf: zipfile.ZipFile, name: str, limits: FileLimits,
                  max_ratio: float | None = None) -> list[zipfile.ZipInfo]:
    """The members of a zip, once none is unsafe and their declared sizes fit the limits."""
    infos = zf.infolist()
    for info in infos:
        problem = _member_problem(info)
        if problem:
            raise UnsafeFile(f"{name}：压缩包成员 {info.filename!r}（{problem}）不安全，"
                             "拒绝读取该压缩包")
    declared = sum(i.file_size for i in infos)
    if limits.max_unpacked_bytes is not None and declared > limits.max_unpacked_bytes:
        raise _unpacked_limit(limits, name, declared)
    if max_ratio is not None:
        for info in infos:
            if info.file_size > CHUNK and info.file_size > max_ratio * max(info.compress_size, 1):
                raise LimitExceeded(
                    f"{name}：成员 {info.filename!r} 的压缩比超过 {max_ratio}:1"
                    f"（由 {info.compress_size / 1e3:.1f} kB 解压为 "
                    f"{info.file_size / 1e6:.1f} MB），"
                    "疑似 zip 炸弹，拒绝读取")
    return infos


# --- GDAL ---------------------------------------------------------------------------------

_gdal_ready = False


def _pin_gdal_options() -> None:
    global _gdal_ready
    if not _gdal_ready:
        import pyogrio

        pyogrio.set_gdal_config_options(GDAL_SAFE_OPTIONS)
        _gdal_ready = True


@contextmanager
def staged(path: Path, as_name: str) -> Iterator[Path]:
    """A private folder holding `path` (linked, or copied where links fail) as `as_name`."""
    with tempfile.TemporaryDirectory(prefix="ccmap-open-") as tmp:
        target = Path(tmp) / as_name
        try:
            os.symlink(path.resolve(), target)
        except OSError:
            shutil.copyfile(path, target)
        yield target


# a "crs" member name in any letter case, letters possibly \u-escaped (JSON allows that)
_CRS_KEY = re.compile(rb'"(?:c|\\u00[46]3)(?:r|\\u00[57]2)(?:s|\\u00[57]3)"', re.IGNORECASE)


def _has_crs_member(path: Path) -> bool:
    """Whether a JSON file may have a crs member anywhere (a cheap scan of the bytes)."""
    tail = b""
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            if _CRS_KEY.search(tail + chunk):
                return True
            tail = chunk[-24:]
    return False


def check_geojson(path: Path, name: str) -> None:
    """GeoJSON: a JSON object of a GeoJSON type, with no crs that GDAL would fetch.

    Only a file that may hold crs members is parsed whole (streamed); otherwise the top-level
    type is read and GDAL, forced to its GeoJSON driver, parses the rest."""
    head = _head(path)
    if not _significant(head).startswith(b"{"):
        if not _significant(head):
            raise InvalidInput(f"无法读取 {name}：文件中没有内容")
        raise _disguised(name, "GeoJSON 文件", head)
    if b"gdal_streamed_alg" in head.lower():
        raise _disguised(name, "GeoJSON 文件", head)
    scan_markers(path, name)
    try:
        with path.open("rb") as f:
            if _has_crs_member(path):
                top_type, crs = _walk_geojson(f)
            else:
                top_type, crs = next(ijson.items(f, "type"), None), {}
    except (ijson.JSONError, ValueError) as exc:
        raise InvalidInput(f"无法读取 {name}：不是有效的 JSON（{exc}）") from None
    if not isinstance(top_type, str) or top_type.lower() not in _GEOJSON_TYPES:
        raise UnsafeFile(f"{name} 不是 GeoJSON：其 \"type\" 为 {top_type!r}，而不是 "
                         "FeatureCollection、Feature 或几何类型")
    for where, values in crs.items():
        _check_crs(name, where, values)


def _walk_geojson(f: IO[bytes]) -> tuple[Any, dict[str, list[tuple[str, Any]]]]:
    """The top-level type and every crs member (outside feature properties) with its values."""
    top_type: Any = None
    crs: dict[str, list[tuple[str, Any]]] = {}
    owner: str | None = None  # the crs member being read, and how deep in it we are
    depth = 0
    for prefix, event, value in ijson.parse(f, use_float=True):
        if owner is not None:
            if event in ("start_map", "start_array"):
                depth += 1
            elif event in ("end_map", "end_array"):
                depth -= 1
            elif event != "map_key":
                crs[owner].append((prefix[len(owner):].lower(), value))
            if depth == 0:
                owner = None
            continue
        if event == "map_key" and str(value).lower() == "crs":
            if "properties" not in prefix.lower().split("."):  # a property named crs is data
                owner = f"{prefix}.{value}" if prefix else str(value)
                crs.setdefault(owner, [])
        elif prefix == "type" and event == "string" and top_type is None:
            top_type = value
    return top_type, crs


def _check_crs(name: str, where: str, values: list[tuple[str, Any]]) -> None:
    """A GeoJSON crs member must be a name/EPSG/OGC code; link/url ones make GDAL fetch."""
    for key, value in values:
        if key == ".type":
            ok = str(value).lower() in ("name", "epsg", "ogc")
        elif isinstance(value, str):
            ok = bool(_CRS_NAME.match(value))
        else:
            ok = value is None or isinstance(value, (int, float))
        if not ok:
            raise UnsafeFile(f"{name}：{where!r} 处的 crs（{key.lstrip('.')} = "
                             f"{str(value)[:80]!r}）不是 EPSG:4326 这样的坐标系代码；crs 链接或 "
                             "URL 会使服务器去获取它，因此拒绝读取")


def check_gpkg(path: Path, name: str) -> None:
    """GeoPackage: an SQLite file with a GPKG application_id and a harmless schema."""
    head = _head(path, 100)
    if not head.startswith(b"SQLite format 3\x00") or len(head) < 72:
        raise _disguised(name, "GeoPackage 文件", head)
    if head[68:72] not in GPKG_IDS:
        raise UnsafeFile(f"{name} 是 SQLite 数据库，但不是 GeoPackage（application_id 为 "
                         f"{head[68:72]!r}）")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise InvalidInput(f"无法读取 {name}：{exc}") from None
    try:
        conn.execute("PRAGMA trusted_schema=OFF")
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
        attached = conn.execute("PRAGMA database_list").fetchall()
    except sqlite3.Error as exc:
        raise InvalidInput(f"无法读取 {name}：{exc}") from None
    finally:
        conn.close()
    if len(attached) != 1:  # cannot happen with a fresh connection; be sure
        raise UnsafeFile(f"{name} 附加了其他数据库")
    for kind, obj, sql in rows:
        sql = sql or ""
        if kind == "view":
            raise UnsafeFile(f"{name}：{obj!r} 是视图；视图在读取时会执行 SQL"
                             "（可能读取其他文件），因此只接受数据表")
        if re.match(r"\s*create\s+virtual\s+table", sql, re.IGNORECASE) and not re.search(
                r"\busing\s+rtree\s*\(", sql, re.IGNORECASE):
            raise UnsafeFile(f"{name}：{obj!r} 是空间索引以外的虚拟表，可能读取其他文件，"
                             "因此拒绝读取")
        bad = _BAD_SQL.search(sql)
        if bad:
            raise UnsafeFile(f"{name}：{kind} {obj!r} 使用了 {bad.group(0)!r}，"
                             "可能读取其他文件或 URL，因此拒绝读取")


def _stage_shapefile(zf: zipfile.ZipFile, name: str, infos: list[zipfile.ZipInfo],
                     folder: Path, limits: FileLimits) -> None:
    """Unpack the one Shapefile of a zip into folder as layer.shp/.shx/.dbf/.prj/.cpg."""
    shps = [i for i in infos if i.filename.lower().endswith(".shp") and not i.is_dir()]
    if len(shps) > 1:
        raise UnsafeFile(f"{name} 须只含一个 .shp（实有 {len(shps)} 个），"
                         "否则无法确定读取哪一个")
    if not shps:
        raise InvalidInput(f"{name} 须只含一个 .shp（实有 0 个）")
    stem = PurePosixPath(shps[0].filename.lower()).with_suffix("")
    budget = limits.max_unpacked_bytes
    for info in infos:
        member = PurePosixPath(info.filename.lower())
        if member.with_suffix("") != stem or member.suffix not in SHAPEFILE_PARTS:
            continue  # readme, .shp.xml metadata, ...: not needed, never unpacked
        try:
            with zf.open(info) as src, (folder / f"layer{member.suffix}").open("wb") as dst:
                used = copy_limited(src, dst, budget, name, limits)
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
                EOFError) as exc:
            raise InvalidInput(f"无法从 {name} 解压 {info.filename!r}：{exc}") from None
        if budget is not None:
            budget -= used


def _link_shapefile(path: Path, name: str, folder: Path) -> None:
    """Link a .shp and its sidecars (same stem, any case) into folder as layer.*."""
    parts = {".shp": path}
    for sibling in path.parent.iterdir():
        suffix = sibling.suffix.lower()
        if sibling.stem.lower() == path.stem.lower() and suffix in SHAPEFILE_PARTS[1:]:
            if not sibling.is_file():
                raise InvalidInput(f"{name} 旁的 {sibling.name} 不是普通文件")
            parts[suffix] = sibling
    for suffix, part in parts.items():
        target = folder / f"layer{suffix}"
        try:
            os.symlink(part.resolve(), target)
        except OSError:
            shutil.copyfile(part, target)


@contextmanager
def gdal_source(path: Path, name: str, fmt: str, limits: FileLimits) -> Iterator[str]:
    """The name to hand GDAL for a checked layer file: driver-prefixed, in a private folder."""
    _pin_gdal_options()
    if fmt == GEOJSON:
        check_geojson(path, name)
        with staged(path, "layer.geojson") as target:
            yield f"GeoJSON:{target}"
    elif fmt == GPKG:
        check_gpkg(path, name)
        with staged(path, "layer.gpkg") as target:
            yield f"GPKG:{target}"
    elif fmt in (SHAPEFILE_ZIP, SHAPEFILE):
        with tempfile.TemporaryDirectory(prefix="ccmap-shp-") as tmp:
            folder = Path(tmp)
            if fmt == SHAPEFILE_ZIP:
                with _open_zip(path, name, "zip 文件") as zf:
                    _stage_shapefile(zf, name, check_archive(zf, name, limits), folder, limits)
            else:
                _link_shapefile(path, name, folder)
            shp = folder / "layer.shp"
            if not shp.exists():
                raise InvalidInput(f"{name}：未找到 .shp")
            for part in (shp, folder / "layer.shx"):
                if part.exists() and not _head(part, 4).startswith(SHP_MAGIC):
                    raise _disguised(f"{name} ({part.suffix})", SHAPEFILE_TEXT, _head(part))
            yield str(folder)  # a folder: only the Shapefile driver opens it
    else:
        raise InvalidInput(f"{name}：{fmt} 不是此处 GDAL 可读取的图层格式")


DRIVERS = {GEOJSON: "GeoJSON", GPKG: "GPKG", SHAPEFILE_ZIP: "ESRI Shapefile",
           SHAPEFILE: "ESRI Shapefile"}


def read_vector_file(path: Path, name: str, fmt: str, limits: FileLimits) -> Any:
    """A checked GeoJSON/GeoPackage/Shapefile as a GeoDataFrame, with its driver forced."""
    import geopandas as gpd
    import pyogrio

    with gdal_source(path, name, fmt, limits) as source:
        try:
            if fmt in (SHAPEFILE_ZIP, SHAPEFILE) and len(pyogrio.list_layers(source)) != 1:
                raise InvalidInput(f"无法读取 {name}：其中没有可读取的 Shapefile")
            info = pyogrio.read_info(source)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
            raise InvalidInput(f"无法读取 {name}：{exc}") from None
        if info.get("driver") != DRIVERS[fmt]:  # cannot happen with the names above
            raise UnsafeFile(f"{name} 以 {info.get('driver')} 驱动打开，而不是 {DRIVERS[fmt]}")
        limit = limits.max_features
        if limit is not None and info.get("features", -1) > limit:
            raise _features_limit(name, limits, info["features"])
        kwargs: dict[str, Any] = {"engine": "pyogrio"}
        if limit is not None:  # the count above comes from the file and could lie
            kwargs["max_features"] = limit + 1
        # a Shapefile without .cpg is tried as UTF-8, then GB18030 (GBK)
        encodings = ("utf-8", "gb18030") if fmt in (SHAPEFILE_ZIP, SHAPEFILE) else (None,)
        frame = None
        for encoding in encodings:
            try:
                frame = gpd.read_file(source, **kwargs,
                                      **({"encoding": encoding} if encoding else {}))
                break
            except (UnicodeDecodeError, pyogrio.errors.DataSourceError,
                    pyogrio.errors.DataLayerError) as exc:
                last: Exception = exc
        if frame is None:
            raise InvalidInput(f"无法读取 {name}：{last}")
    if limit is not None and len(frame) > limit:
        raise _features_limit(name, limits, len(frame))
    return frame


def _features_limit(name: str, limits: FileLimits, found: int) -> LimitExceeded:
    setting = limits.setting("MAX_LAYER_FEATURES")
    return LimitExceeded(f"{name} 的要素超过 {limits.max_features} 个（已计得 {found} 个），"
                         f"上限由 {setting} 设定", limit=limits.max_features,
                         setting=setting)


# --- tables (pandas / openpyxl, never GDAL) -----------------------------------------------

def _rows_limit(name: str, limits: FileLimits) -> LimitExceeded:
    setting = limits.setting("MAX_IMPORT_ROWS")
    return LimitExceeded(f"{name} 超过 {limits.max_rows} 行，上限由 {setting} 设定",
                         limit=limits.max_rows, setting=setting)


def text_encoding(path: Path, name: str) -> str:
    """UTF-8 (BOM or not) or GB18030, decoded as a stream; binary files are refused."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as f:
                while chunk := f.read(CHUNK):
                    if "\x00" in decoder.decode(chunk):
                        raise InvalidInput(f"{name} 不是文本文件（含有 NUL 字节）")
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise InvalidInput(f"{name} 既不是 UTF-8 也不是 GB18030/GBK 编码的文本")


def _checked_csv(path: Path, name: str) -> str:
    """Check a CSV is text with nothing that names other files; its encoding."""
    head = _head(path)
    if _what_is(head) not in (OTHER, EMPTY):
        raise _disguised(name, "CSV 文本", head)
    scan_markers(path, name)
    return text_encoding(path, name)


def read_csv_file(path: Path, name: str, limits: FileLimits) -> pd.DataFrame:
    """A CSV as a DataFrame of strings (pandas), checked to be text and within max_rows."""
    import pandas as pd

    encoding = _checked_csv(path, name)
    nrows = limits.max_rows + 1 if limits.max_rows is not None else None
    try:
        frame = pd.read_csv(path, encoding=encoding, dtype=str, keep_default_na=False,
                            nrows=nrows)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"无法按 CSV 解析 {name}：{exc}") from None
    if limits.max_rows is not None and len(frame) > limits.max_rows:
        raise _rows_limit(name, limits)
    return frame


# what openpyxl/pandas raise on a damaged workbook (defusedxml's refusals are ValueErrors)
_XLSX_ERRORS = (ValueError, KeyError, TypeError, IndexError, AttributeError, SyntaxError,
                zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError)


def read_xlsx_file(path: Path, name: str, limits: FileLimits) -> pd.DataFrame:
    """The first sheet of an .xlsx as a DataFrame of strings, after the zip checks."""
    import pandas as pd

    _checked_xlsx(path, name, limits)
    nrows = limits.max_rows + 1 if limits.max_rows is not None else None
    try:
        frame = pd.read_excel(path, dtype=str, engine="openpyxl", nrows=nrows)
    except _XLSX_ERRORS as exc:
        raise InvalidInput(f"无法按 .xlsx 工作簿读取 {name}："
                           f"{type(exc).__name__}: {exc}") from None
    if limits.max_rows is not None and len(frame) > limits.max_rows:
        raise _rows_limit(name, limits)
    return frame


def _checked_xlsx(path: Path, name: str, limits: FileLimits) -> None:
    """Check an .xlsx is a workbook whose zip is safe to unpack."""
    head = _head(path)
    if not head.startswith(b"PK"):
        raise _disguised(name, ".xlsx 工作簿", head)
    with _open_zip(path, name, ".xlsx 工作簿（zip 结构已损坏）") as zf:
        names = set(zf.namelist())
        if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
            raise UnsafeFile(f"{name} 是 zip 压缩包，但不是 Excel 工作簿（缺少 "
                             "[Content_Types].xml 和 xl/workbook.xml）")
        check_archive(zf, name, limits, max_ratio=MAX_XLSX_RATIO)


@dataclass
class TableChunks:
    """A checked CSV/xlsx read `rows` rows at a time: `total` rows (header not counted) and
    `columns`; iterating gives DataFrames of strings ('' where empty), in file order."""

    path: Path
    name: str
    fmt: str
    rows: int
    total: int
    columns: list[str]
    encoding: str = "utf-8"

    def __iter__(self) -> Iterator[pd.DataFrame]:
        if self.fmt == CSV:
            yield from self._csv()
        else:
            yield from self._xlsx()

    def _csv(self) -> Iterator[pd.DataFrame]:
        import pandas as pd

        try:
            reader = pd.read_csv(self.path, encoding=self.encoding, dtype=str,
                                 keep_default_na=False, chunksize=self.rows)
            with reader:
                yield from reader
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput(f"无法按 CSV 解析 {self.name}：{exc}") from None

    def _xlsx(self) -> Iterator[pd.DataFrame]:
        rows: list[list[str]] = []
        for values in _xlsx_rows(self.path, self.name, skip_header=True):
            rows.append(values)
            if len(rows) >= self.rows:
                yield self._frame(rows)
                rows = []
        if rows:
            yield self._frame(rows)

    def _frame(self, rows: list[list[str]]) -> pd.DataFrame:
        import pandas as pd

        width = len(self.columns)
        return pd.DataFrame([(r + [""] * width)[:width] for r in rows], columns=self.columns,
                            dtype=str)


def _xlsx_rows(path: Path, name: str, skip_header: bool) -> Iterator[list[str]]:
    """The first sheet's rows as strings (openpyxl read-only; trailing empty rows dropped)."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            sheet = book.worksheets[0]
            blank = 0
            for k, row in enumerate(sheet.iter_rows(values_only=True)):
                if k == 0 and skip_header:
                    continue
                values = ["" if v is None else _cell_text(v) for v in row]
                if not any(values):
                    blank += 1  # pandas drops blank rows at the end only: hold them back
                    continue
                for _ in range(blank):
                    yield [""] * len(values)
                blank = 0
                yield values
        finally:
            book.close()
    except _XLSX_ERRORS as exc:
        raise InvalidInput(f"无法按 .xlsx 工作簿读取 {name}："
                           f"{type(exc).__name__}: {exc}") from None


def _cell_text(v: Any) -> str:
    """A cell as pandas' read_excel(dtype=str) shows it (whole floats without '.0')."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def table_chunks(path: Path, name: str, fmt: str, limits: FileLimits,
                 rows: int) -> TableChunks:
    """Check a CSV/xlsx and count its rows (a fast first pass: the limit is known before
    anything is written); the chunks to read it by."""
    import pandas as pd

    if fmt == CSV:
        encoding = _checked_csv(path, name)
        total, columns = 0, []
        try:
            reader = pd.read_csv(path, encoding=encoding, dtype=str, keep_default_na=False,
                                 usecols=[0], chunksize=1_000_000)
            with reader:
                for part in reader:
                    total += len(part)
            columns = [str(c) for c in pd.read_csv(path, encoding=encoding, dtype=str,
                                                   nrows=0).columns]
        except pd.errors.EmptyDataError:
            raise InvalidInput(f"{name} 为空") from None
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput(f"无法按 CSV 解析 {name}：{exc}") from None
    else:
        _checked_xlsx(path, name, limits)
        encoding = "utf-8"
        header = next(_xlsx_rows(path, name, skip_header=False), None)
        if header is None:
            raise InvalidInput(f"{name} 为空")
        columns = [c or f"Unnamed: {k}" for k, c in enumerate(header)]
        total = sum(1 for _ in _xlsx_rows(path, name, skip_header=True))
    if limits.max_rows is not None and total > limits.max_rows:
        raise _rows_limit(name, limits)
    return TableChunks(path, name, fmt, max(1, rows), total, columns, encoding)


# --- OSM (pyosmium) -----------------------------------------------------------------------

def _is_pbf(head: bytes) -> bool:
    """An OSM PBF starts with a BlobHeader (length-prefixed) whose type is OSMHeader."""
    if len(head) < 16:
        return False
    size = int.from_bytes(head[:4], "big")
    header = head[4:4 + size]
    return 0 < size <= 64 * 1024 and header[:1] == b"\x0a" and header[2:2 + header[1]] == \
        b"OSMHeader"


def osm_file(path: Path, name: str) -> Any:
    """An osmium.io.File for a checked .osm (XML) or .osm.pbf, its format given explicitly."""
    import osmium

    try:
        fmt = file_format(name, OSM_FORMATS, ".osm (XML) or .osm.pbf")
    except InvalidInput:
        shown = Path(name).suffix or Path(name).name
        raise InvalidInput(f"{name} 不是可读取的 OSM XML/PBF 文件：不支持的文件类型 {shown!r}，"
                           "请使用 .osm（XML）或 .osm.pbf") from None
    head = _head(path, 8192)
    if fmt == OSM_XML:
        body = re.sub(rb"^(<\?xml[^>]*\?>|<!--.*?-->|\s)*", b"", _significant(head),
                      flags=re.DOTALL)
        if b"<!doctype" in head.lower():
            raise UnsafeFile(f"{name} 含有 DOCTYPE，不接受 XML 实体")
        if not re.match(rb"<osm[\s>]", body):
            raise _disguised(name, "OSM XML 文件", head)
        scan_markers(path, name)
        return osmium.io.File(str(path), "osm")
    if not _is_pbf(head):
        raise _disguised(name, "OSM PBF 文件", head)
    return osmium.io.File(str(path), "pbf")
