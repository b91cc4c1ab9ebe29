"""`flightdeck export` and `flightdeck verify` as a person uses them: the real command in a
subprocess, the bundle of a real run (retries, an approval, a failure, traces), and tamperings
of single bytes, lines and files of the zip. Verification reads nothing but the zip."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.cli import Cli
from tests.integration.record.conftest import Recorded

Members = dict[str, bytes]


def members(path: Path) -> Members:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def tampered(bundle: Path, tmp_path: Path, change: Callable[[Members], None]) -> Path:
    found = members(bundle)
    change(found)
    out = tmp_path / "tampered.zip"
    with zipfile.ZipFile(out, "w") as z:
        for name, data in found.items():
            z.writestr(name, data)
    return out


def lines(found: Members) -> list[str]:
    return found["events.jsonl"].decode().splitlines()


def set_lines(found: Members, new: list[str]) -> None:
    found["events.jsonl"] = ("\n".join(new) + "\n").encode()


def verify(cli: Cli, path: Path) -> tuple[int, str]:
    r = cli("verify", str(path))
    return r.code, r.out + r.err


def test_clean_export_verifies_without_the_database(recorded: Recorded, bundle: Path, tmp_path: Path) -> None:
    found = members(bundle)
    manifest = json.loads(found["manifest.json"])
    assert manifest["format"] == "flightdeck-evidence" and manifest["format_version"] == 1
    assert manifest["run"]["run_id"] == recorded.run_id and manifest["run"]["status"] == "failed"
    assert manifest["tool_version"] and manifest["created_at"]
    events = [json.loads(line) for line in lines(found)]
    assert manifest["chain"]["head_hash"] == events[-1]["hash"]
    kinds = {a["kind"] for a in manifest["artifacts"]}
    assert kinds == {"screenshot", "trace"}
    for item in manifest["artifacts"]:
        assert item["path"] in found and len(found[item["path"]]) == item["size"]
    # Anyone with the zip: a fresh data dir with no database at all.
    stranger = Cli(tmp_path)
    r = stranger("verify", str(bundle))
    assert r.code == 0, r.out + r.err
    assert f"{len(events)} events" in r.out and events[-1]["hash"] in r.out
    assert not (tmp_path / "flightdeck.db").exists()
    as_json = stranger("verify", str(bundle), "--json").json()
    assert as_json["ok"] and as_json["problems"] == [] and as_json["artifacts"] == len(manifest["artifacts"])


def _edit_event_data(found: Members) -> None:
    new = lines(found)
    event = json.loads(new[4])
    event["data"]["error"] = "nothing went wrong"
    new[4] = json.dumps(event)
    set_lines(found, new)


def _delete_event(found: Members) -> None:
    new = lines(found)
    del new[9]
    set_lines(found, new)


def _reorder(found: Members) -> None:
    new = lines(found)
    new[19], new[20] = new[20], new[19]
    set_lines(found, new)


def _truncate(found: Members) -> None:
    set_lines(found, lines(found)[:-3])


def _first_jpeg(found: Members) -> str:
    return sorted(name for name in found if name.endswith(".jpg"))[0]


def _alter_artifact(found: Members) -> None:
    name = _first_jpeg(found)
    data = bytearray(found[name])
    data[len(data) // 2] ^= 0x01  # one bit of one byte
    found[name] = bytes(data)


def _remove_artifact(found: Members) -> None:
    del found[_first_jpeg(found)]


def _edit_manifest(found: Members) -> None:
    manifest = json.loads(found["manifest.json"])
    manifest["run"]["status"] = "succeeded"
    found["manifest.json"] = json.dumps(manifest).encode()


def _extra_file(found: Members) -> None:
    found["artifacts/notes.txt"] = b"added later"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (_edit_event_data, "event #5: its content does not match its hash (edited)"),
        (_delete_event, "event #11: expected event #10, found #11 (missing or reordered)"),
        (_reorder, "event #21: expected event #20, found #21"),
        (_truncate, "truncated"),
        (_alter_artifact, "do not match its sha256 (altered)"),
        (_remove_artifact, "missing from the bundle"),
        (_edit_manifest, "manifest: says the run is 'succeeded'; its events say 'failed'"),
        (_extra_file, "artifacts/notes.txt: extra file"),
    ],
    ids=[
        "edited-event",
        "deleted-event",
        "reordered",
        "truncated",
        "altered-artifact",
        "missing-artifact",
        "edited-manifest",
        "extra-file",
    ],
)
def test_tampering_is_named(
    recorded: Recorded, bundle: Path, tmp_path: Path, change: Callable[[Members], None], named: str
) -> None:
    path = tampered(bundle, tmp_path, change)
    code, out = verify(recorded.cli, path)
    assert code == 1, out
    assert "does not verify" in out and named in out, out
    if change in (_alter_artifact, _remove_artifact):
        assert _first_jpeg(members(bundle)) in out  # the file is named


def test_bad_input_says_what_and_how(recorded: Recorded, bundle: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.zip"
    text.write_text("not a zip at all")
    code, out = verify(recorded.cli, text)
    assert code == 2 and "is not a zip file" in out and "flightdeck export RUN -o run.zip" in out

    def future(found: Members) -> None:
        manifest = json.loads(found["manifest.json"])
        manifest["format_version"] = 7
        found["manifest.json"] = json.dumps(manifest).encode()

    code, out = verify(recorded.cli, tampered(bundle, tmp_path, future))
    assert code == 2 and "format version 7" in out and "reads version 1" in out

    code, out = verify(recorded.cli, tmp_path / "absent.zip")
    assert code == 2 and "no such file" in out

    r = recorded.cli("export", "nosuchrun", "-o", str(tmp_path / "x.zip"))
    assert r.code == 2 and "nosuchrun" in r.err and "flightdeck runs" in r.err
    assert not (tmp_path / "x.zip").exists()
