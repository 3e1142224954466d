"""Reads a WACZ package with independent tools, for tests/it/evidence_report.rs.

`read_wacz.py read FILE` prints one JSON object: every ZIP entry with its compression
method, each CDXJ line with the record warcio finds at the line's offset and length in
its WARC (read from inside the ZIP, as a replay tool seeks into a stored entry), every
record of each WARC read by warcio with its digests checked, and the pages.

`read_wacz.py tamper IN OUT` copies a package with one byte of its first WARC changed,
so a test can show that `wacz validate` notices.
"""

import io
import json
import sys
import zipfile

from warcio.archiveiterator import ArchiveIterator


def read(path):
    z = zipfile.ZipFile(path)
    out = {"entries": {i.filename: i.compress_type for i in z.infolist()}}
    index = []
    for line in z.read("indexes/index.cdxj").decode("utf-8").splitlines():
        key, ts, blob = line.split(" ", 2)
        entry = json.loads(blob)
        data = z.read("archive/" + entry["filename"])
        start, length = int(entry["offset"]), int(entry["length"])
        records = list(ArchiveIterator(io.BytesIO(data[start : start + length])))
        first = records[0]
        index.append(
            {
                "key": key,
                "ts": ts,
                "entry": entry,
                "rec_type": first.rec_type,
                "target": first.rec_headers.get_header("WARC-Target-URI"),
                "records_in_range": len(records),
            }
        )
    out["index"] = index
    warcs = {}
    for name in z.namelist():
        if name.startswith("archive/"):
            types = []
            for record in ArchiveIterator(
                io.BytesIO(z.read(name)), check_digests="raise"
            ):
                record.content_stream().read()
                types.append(record.rec_type)
            warcs[name] = types
    out["warcs"] = warcs
    out["pages"] = [
        json.loads(l) for l in z.read("pages/pages.jsonl").decode("utf-8").splitlines()
    ]
    out["datapackage"] = json.loads(z.read("datapackage.json"))
    out["digest"] = json.loads(z.read("datapackage-digest.json"))
    print(json.dumps(out, ensure_ascii=False))


def tamper(src, dst):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        done = False
        for info in zin.infolist():
            data = zin.read(info.filename)
            if not done and info.filename.startswith("archive/"):
                data = data[:100] + bytes([data[100] ^ 1]) + data[101:]
                done = True
            zout.writestr(info, data)


if __name__ == "__main__":
    if sys.argv[1] == "read":
        read(sys.argv[2])
    else:
        tamper(sys.argv[2], sys.argv[3])
