"""Datasets: a folder with ``manifest.csv`` and the images it names.

Columns: ``image,text`` (required), ``x,y,w,h`` (the code's box in pixels, all four or none)
and ``split`` (optional). Paths are relative to the manifest. An optional ``warmup.csv`` in
the same format names the warm-up image, kept outside the measured set.

A manifest that cannot be read at all raises :class:`ManifestError`. A row that is wrong on
its own (a bad or zero-size box, a missing or corrupt image) becomes a sample with a
``problem``: the worker records it as an error row and the run goes on.

Device side: Python 3.6, numpy and OpenCV only.
"""
import csv
import hashlib
import io
import os
import stat
from typing import List, NamedTuple, Optional, Tuple

import cv2
import numpy as np

PREPROCESS_VARIANTS = ("raw", "otsu", "clahe")
Box = Tuple[int, int, int, int]


class ManifestError(Exception):
    """The manifest cannot be used at all; the message names the file and row."""


class SampleError(Exception):
    """One sample cannot be loaded; the message names the file and manifest row."""


class Entry(NamedTuple):
    """One manifest row."""

    sample_id: str
    path: str  # absolute image path
    text: str
    box: Optional[Box]
    split: str
    where: str  # "manifest.csv row N", for messages
    problem: str  # non-empty when the row itself is unusable


class Dataset(NamedTuple):
    root: str
    manifest: str
    entries: List[Entry]
    warmup: Optional[Entry]  # None: the dataset has no warmup.csv


def _parse_box(row: dict, where: str) -> Tuple[Optional[Box], str]:
    values = [row.get(k, "") for k in "xywh"]
    if all(v in ("", None) for v in values):
        return None, ""
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        return None, "%s: box x,y,w,h must be four numbers, got %r" % (where, ",".join(map(str, values)))
    if not all(np.isfinite(numbers)):  # inf, nan, 1e400: no box at all, and no image to read it on
        raise ManifestError("%s: box x,y,w,h must be four finite numbers, got %r" % (where, ",".join(map(str, values))))
    x, y, w, h = (int(round(v)) for v in numbers)
    if w <= 0 or h <= 0:
        return None, "%s: box has zero or negative size (w=%d, h=%d)" % (where, w, h)
    if x < 0 or y < 0:
        return None, "%s: box starts outside the image (x=%d, y=%d)" % (where, x, y)
    return (x, y, w, h), ""


def read_manifest(path: str) -> List[Entry]:
    """Read and check a manifest; raise ManifestError if it cannot be used at all."""
    if not os.path.isfile(path):
        raise ManifestError("%s: manifest not found" % path)
    root = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark (Excel's "CSV UTF-8") is dropped
    except UnicodeDecodeError as exc:
        row = data[:exc.start].count(b"\n") + 1
        raise ManifestError("%s row %d: not UTF-8 text (byte 0x%02x); save the manifest as UTF-8"
                            % (path, row, data[exc.start]))
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames or []
        missing = [c for c in ("image", "text") if c not in header]
        if missing:
            other = [name for mark, name in ((";", "semicolons"), ("\t", "tabs")) if len(header) == 1 and mark in header[0]]
            raise ManifestError("%s: header %r lacks column(s) %s%s" % (
                path, header, ", ".join(missing),
                "; its columns are separated by %s: save it with commas" % other[0] if other else ""))
        twice = sorted(set(c for c in header if header.count(c) > 1))
        if twice:
            raise ManifestError("%s: the header names column(s) %s more than once; which one would count?"
                                % (path, ", ".join(twice)))
        box_cols = [c for c in "xywh" if c in header]
        if box_cols and len(box_cols) != 4:
            raise ManifestError("%s: box columns must be all of x,y,w,h or none; found %s"
                                % (path, ",".join(box_cols)))
        rows: List[Tuple[int, dict]] = []  # (the row's line in the file: blank lines are skipped, not rows)
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as exc:  # the first row after the last one read is the one that broke
        lines = text.splitlines()
        broke = rows[-1][0] + 1 if rows else 2
        while broke < len(lines) and not lines[broke - 1].strip():
            broke += 1
        raise ManifestError("%s row %d: not valid CSV (%s%s)" % (path, broke, exc, "; a quote (\") opened "
                                                                 "here is never closed" if "end of data" in str(exc)
                                                                 else ""))
    if not rows:
        raise ManifestError("%s: no rows" % path)

    entries: List[Entry] = []
    names = set((row.get("image") or "").strip() for _, row in rows)  # no made id may be another row's image path
    used: set = set()
    for line, row in rows:
        where = "%s row %d" % (name, line)
        if None in row:  # more fields than the header
            raise ManifestError("%s: %d field(s) more than the header" % (where, len(row[None])))
        short = [c for c in header if row.get(c) is None]
        if short:  # fewer fields than the header: the rest would read as empty
            raise ManifestError("%s: %d field(s) where the header has %d (no %s)"
                                % (where, len(header) - len(short), len(header), ", ".join(short)))
        broken = [c for c in header if "\n" in (row.get(c) or "") or "\r" in (row.get(c) or "")]
        if broken:
            raise ManifestError("%s: column %s holds a line break, as when a quote (\") is not closed and swallows "
                                "the rows after it" % (where, broken[0]))
        image = (row.get("image") or "").strip()
        if not image:
            raise ManifestError("%s: empty image path" % where)
        if image == "image" and (row.get("text") or "").strip() == "text":
            raise ManifestError("%s: the header again (manifests joined?): remove the row" % where)
        if "\\" in image and os.sep == "/" and not os.path.exists(os.path.join(root, image)):
            image = image.replace("\\", "/")  # a manifest written on Windows: img\a.jpg is img/a.jpg
        box, problem = _parse_box(row, where)
        sample_id = image
        if sample_id in used:  # the same image named again: its row makes it a sample of its own
            sample_id = "%s#row%d" % (image, line)
            while sample_id in names or sample_id in used:
                sample_id += "#"
        used.add(sample_id)
        entries.append(Entry(sample_id, os.path.join(root, image), row.get("text") or "", box,
                             (row.get("split") or "").strip(), where, problem))
    return entries


def _rows(entries: List[Entry]) -> str:
    numbers = [e.where.rsplit(" ", 1)[-1] for e in entries]
    return "%s row%s %s" % (entries[0].where.rsplit(" row ", 1)[0], "s" if len(numbers) > 1 else "",
                            ", ".join(numbers[:-1]) + " and " + numbers[-1] if len(numbers) > 1 else numbers[0])


def _hidden_characters(entries: List[Entry]) -> List[str]:
    """Labels no reading can equal though they look right: an invisible character (a zero-width
    space or a byte-order mark copied in with the text, Unicode's format characters, which the
    run's normalisation keeps), or a Cyrillic or Greek letter among Latin ones (``Е`` for ``E``)."""
    import unicodedata

    found: dict = {}
    for entry in entries:
        latin = any("A" <= c <= "z" and c.isalpha() for c in entry.text)
        for c in entry.text:
            name = unicodedata.name(c, "U+%04X" % ord(c))
            if unicodedata.category(c) == "Cf":
                found.setdefault("an invisible U+%04X %s" % (ord(c), name), []).append(entry)
                break
            if latin and c.isalpha() and name.startswith(("CYRILLIC", "GREEK")):
                found.setdefault("U+%04X %s among Latin letters, like one to the eye" % (ord(c), name), []).append(entry)
                break
    return ["%s: the label holds %s; a reading will hardly ever equal it (fix the label)" % (_some_rows(rows), what)
            for what, rows in found.items()]


def _some_rows(entries: List[Entry], shown: int = 10) -> str:
    """``_rows`` of the first ``shown`` entries, and how many more there are."""
    more = len(entries) - shown
    return _rows(entries[:shown]) + (" and %d more" % more if more > 0 else "")


def manifest_warnings(entries: List[Entry]) -> List[str]:
    """What a run on these rows should say before it starts: each image that several rows name
    (however its path is written; each such row is read and scored as a sample of its own),
    and the rows whose label is empty (there, reading nothing counts as correct)."""
    rows: dict = {}
    for entry in entries:
        rows.setdefault(os.path.normpath(entry.path), []).append(entry)
    out = ["%s name the same image %s: each row is read and scored as a sample of its own"
           % (_rows(same), same[0].sample_id) for same in rows.values() if len(same) > 1]
    out += _hidden_characters(entries)
    empty = [e for e in entries if not e.text.strip()]
    if empty:
        out.append("%s ha%s an empty label: reading nothing there counts as correct (an image that cannot be read "
                   "never does)" % (_some_rows(empty), "ve" if len(empty) > 1 else "s"))
    return out


def open_dataset(location: str) -> Dataset:
    """A dataset folder (holding manifest.csv) or a manifest file."""
    manifest = os.path.join(location, "manifest.csv") if os.path.isdir(location) else location
    root = os.path.dirname(os.path.abspath(manifest))
    warmup_csv = os.path.join(root, "warmup.csv")
    warmup = read_manifest(warmup_csv)[0] if os.path.isfile(warmup_csv) else None
    return Dataset(root, os.path.abspath(manifest), read_manifest(manifest), warmup)


MISSING = "missing"


def dataset_hashes(dataset: Dataset) -> dict:
    """sha256 of the manifest's bytes, of the manifest plus every image it names, and of each
    image (its first 16 hex digits, by sample id; ``missing`` for one that cannot be read)."""
    with open(dataset.manifest, "rb") as f:
        manifest_bytes = f.read()
    content = hashlib.sha256(manifest_bytes)
    images = {}
    for entry in dataset.entries:
        try:
            data = _regular_file_bytes(entry.path)
            content.update(data)
            images[entry.sample_id] = hashlib.sha256(data).hexdigest()[:16]
        except OSError:
            content.update(b"<missing>")
            images[entry.sample_id] = MISSING
    return {"manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
            "content_sha256": content.hexdigest(), "image_sha256": images}


def _regular_file_bytes(path: str) -> bytes:
    """A regular file's bytes; OSError for anything else (a FIFO or a device would block
    the read, or never end), without opening it."""
    import stat

    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        raise OSError(0, "a folder, not an image file")
    if not stat.S_ISREG(mode):
        raise OSError(0, "not a regular file (a pipe, device or socket)")
    with open(path, "rb") as f:
        return f.read()


def read_bytes(entry: Entry) -> bytes:
    """The encoded image (outside the timed region)."""
    if entry.problem:
        raise SampleError(entry.problem)
    try:
        return _regular_file_bytes(entry.path)
    except OSError as exc:
        raise SampleError("%s: cannot read image %s (%s)" % (entry.where, entry.path, exc.strerror))


PNG = b"\x89PNG\r\n\x1a\n"


def _has_alpha(data: bytes) -> bool:
    """Whether a PNG or WebP file says it has transparency (from its header, without decoding)."""
    if data[:8] == PNG and len(data) > 25:  # IHDR's colour type: grey + alpha, RGBA, or a palette with tRNS
        return data[25] in (4, 6) or (data[25] == 3 and data.find(b"tRNS", 0, max(0, data.find(b"IDAT"))) >= 0)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) > 24:
        if data[12:16] == b"VP8X":  # the extended format's alpha flag
            return bool(data[20] & 0x10)
        if data[12:16] == b"VP8L":  # lossless: bit 28 after the signature byte
            return bool(int.from_bytes(data[21:25], "little") >> 28 & 1)
    return False


def _as_shown(image: np.ndarray, shown: Optional[np.ndarray]) -> np.ndarray:
    """``image`` as decoded with IMREAD_UNCHANGED (which ignores an EXIF orientation) turned
    and flipped as OpenCV's ordinary decoding ``shown`` (which follows it) shows it: the one
    of the eight turns and flips whose colours equal ``shown``'s."""
    if shown is None:
        return image
    colours = image[:, :, :3] if image.dtype == np.uint8 else (image[:, :, :3] >> 8).astype(np.uint8)
    for flip in (False, True):
        for turns in range(4):
            moved = np.rot90(np.fliplr(colours) if flip else colours, turns)
            if moved.shape == shown.shape and np.array_equal(moved, shown):
                return np.ascontiguousarray(np.rot90(np.fliplr(image) if flip else image, turns))
    return image


def _over_white(data: bytes, flag: int) -> Optional[np.ndarray]:
    """A PNG or WebP with an alpha channel as a viewer shows it, over white (decoded as
    grey, its transparent pixels' colour, often black, would hide black print)."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 3 or image.shape[2] != 4:
        return None if image is None else cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    image = _as_shown(image, cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    image = image.astype(np.float32) / (65535.0 if image.dtype == np.uint16 else 255.0)
    alpha = image[:, :, 3:]
    bgr = np.clip((image[:, :, :3] * alpha + (1.0 - alpha)) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if flag == cv2.IMREAD_GRAYSCALE else bgr


def decode(data: bytes, entry: Entry, grayscale: bool = True, crop: bool = True,
           variant: str = "raw") -> np.ndarray:
    """Decode, crop to the box, convert and apply the preprocessing variant (timed)."""
    flag = cv2.IMREAD_GRAYSCALE if grayscale or variant != "raw" else cv2.IMREAD_COLOR
    if not data:
        raise SampleError("%s: image %s is empty (0 bytes)" % (entry.where, entry.path))
    try:
        if _has_alpha(data):
            image = _over_white(data, flag)
        else:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error:
        image = None
    if image is None:
        raise SampleError("%s: cannot decode image %s (corrupt or not an image)" % (entry.where, entry.path))
    if crop and entry.box is not None:
        x, y, w, h = entry.box
        ih, iw = image.shape[:2]
        if x + w > iw or y + h > ih:  # clamped, it would be read as another region, or none
            raise SampleError("%s: box (%d,%d,%d,%d) reaches past the %dx%d image %s"
                              % ((entry.where,) + entry.box + (iw, ih, entry.path)))
        image = image[y:y + h, x:x + w]
    return apply_variant(image, variant)


def apply_variant(image: np.ndarray, variant: str) -> np.ndarray:
    """``raw`` as is; ``otsu``: Otsu threshold, dark text on white, small specks removed;
    ``clahe``: contrast-limited adaptive histogram equalisation."""
    if variant == "raw":
        return image
    if variant == "clahe":
        return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(image)
    if variant == "otsu":
        _, binary = cv2.threshold(image, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        if np.count_nonzero(binary) < binary.size // 2:  # mostly black: light text on dark
            binary = 255 - binary
        kernel = np.ones((2, 2), np.uint8)
        return cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel)  # close white specks in ink
    raise ValueError("unknown preprocessing variant %r (choose from %s)" % (variant, ", ".join(PREPROCESS_VARIANTS)))
