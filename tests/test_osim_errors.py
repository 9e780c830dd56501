"""Malformed or unsupported .osim content gives an error naming the element, its name and the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from d3ke_edge.cli import app
from d3ke_edge.skeleton import OsimError, load_marker_set, load_osim


def _variant(src: Path, tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    text = src.read_text()
    assert old in text, f"fixture text '{old}' not found"
    out = tmp_path / "bad.osim"
    out.write_text(text.replace(old, new, count))
    return out


CASES = [
    # (old, new, expected fragments of the message)
    ('<CustomJoint name="knee_r">', '<HingeJoint name="knee_r">', ["HingeJoint", "knee_r", "unsupported joint type"]),
    ("</CustomJoint>", "</HingeJoint>", None),  # paired with the case above (closing tag)
    ("<socket_parent>/bodyset/femur_r</socket_parent>", "<socket_parent>/bodyset/femur_x</socket_parent>",
     ["femur_x", "does not exist"]),
    ("<range>", "<range>abc ", ["range", "not a list of numbers"]),
    ('<LinearFunction name="function">\n\t\t\t\t\t\t\t\t<coefficients>1.0 0.0</coefficients>',
     '<StepFunction name="function">\n\t\t\t\t\t\t\t\t<coefficients>1.0 0.0</coefficients>', ["StepFunction", "unsupported function"]),
]


def _case_file(builtin_osim: Path, tmp_path: Path, i: int) -> Path:
    old, new, _ = CASES[i]
    if i == 0:  # rename opening and closing tag of the knee joint
        text = builtin_osim.read_text()
        start = text.index('<CustomJoint name="knee_r">')
        end = text.index("</CustomJoint>", start) + len("</CustomJoint>")
        block = text[start:end].replace("<CustomJoint", "<HingeJoint").replace("</CustomJoint>", "</HingeJoint>")
        out = tmp_path / "bad.osim"
        out.write_text(text[:start] + block + text[end:])
        return out
    if i == 4:  # the first LinearFunction element (its closing tag too)
        text = builtin_osim.read_text()
        start = text.index('<LinearFunction name="function">')
        end = text.index("</LinearFunction>", start) + len("</LinearFunction>")
        block = text[start:end].replace("LinearFunction", "StepFunction")
        out = tmp_path / "bad.osim"
        out.write_text(text[:start] + block + text[end:])
        return out
    return _variant(builtin_osim, tmp_path, old, new)


@pytest.mark.parametrize("i", [0, 2, 3, 4])
def test_bad_content_names_element_and_file(builtin_osim, tmp_path, i):
    path = _case_file(builtin_osim, tmp_path, i)
    with pytest.raises(OsimError) as err:
        load_osim(path)
    msg = str(err.value)
    assert str(path) in msg
    for fragment in CASES[i][2]:
        assert fragment in msg


def test_missing_body_in_bodyset(builtin_osim, tmp_path):
    text = builtin_osim.read_text()
    start = text.index('<Body name="toes_l">')
    end = text.index("</Body>", start) + len("</Body>")
    path = tmp_path / "nobody.osim"
    path.write_text(text[:start] + text[end:])
    with pytest.raises(OsimError, match="toes_l.*does not exist|toes_l"):
        load_osim(path)


def test_not_xml_and_missing_file(tmp_path):
    junk = tmp_path / "junk.osim"
    junk.write_text("this is not xml <")
    with pytest.raises(OsimError, match="not well-formed XML"):
        load_osim(junk)
    with pytest.raises(OsimError, match="no such file"):
        load_osim(tmp_path / "absent.osim")


def test_opensim3_model_is_refused(tmp_path):
    path = tmp_path / "old.osim"
    path.write_text('<OpenSimDocument Version="30000"><Model name="m"><BodySet/></Model></OpenSimDocument>')
    with pytest.raises(OsimError, match="OpenSim 3.x"):
        load_osim(path)


def test_unsupported_constraint_and_reversed_joint(builtin_osim, tmp_path):
    path = _variant(builtin_osim, tmp_path, '<ConstraintSet name="constraintset">',
                    '<ConstraintSet name="constraintset"><objects><WeldConstraint name="glue"/></objects>')
    with pytest.raises(OsimError, match="WeldConstraint.*glue|glue.*WeldConstraint"):
        load_osim(path)
    path = _variant(builtin_osim, tmp_path, '<CustomJoint name="hip_r">', '<CustomJoint name="hip_r"><reverse>true</reverse>')
    with pytest.raises(OsimError, match="hip_r.*reversed"):
        load_osim(path)


def test_collinear_axes_are_refused(builtin_osim, tmp_path):
    text = builtin_osim.read_text()
    start = text.index('<CustomJoint name="hip_r">')
    seg_end = text.index("</SpatialTransform>", start)
    block = text[start:seg_end].replace("<axis>1.0 0.0 0.0</axis>", "<axis>0.0 0.0 1.0</axis>", 1)
    path = tmp_path / "collinear.osim"
    path.write_text(text[:start] + block + text[seg_end:])
    with pytest.raises(OsimError, match="hip_r.*collinear"):
        load_osim(path)


def test_marker_file_with_unknown_body(builtin, tmp_path):
    path = tmp_path / "markers.xml"
    path.write_text(
        '<OpenSimDocument Version="40000"><MarkerSet name="markerset"><objects><Marker name="M1">'
        "<socket_parent_frame>/bodyset/wing</socket_parent_frame><location>0 0 0</location></Marker>"
        "</objects></MarkerSet></OpenSimDocument>"
    )
    with pytest.raises(OsimError, match="M1"):
        load_marker_set(path, builtin)


def test_cli_reports_parse_errors(builtin_osim, tmp_path):
    path = _case_file(builtin_osim, tmp_path, 0)
    res = CliRunner().invoke(app, ["skeleton", "check", str(path), "--poses", "1"])
    assert res.exit_code == 2
    assert "HingeJoint" in res.stderr and "knee_r" in res.stderr
