import hashlib
import json
import os
import pickle
import re
import shutil

import numpy as np
import pytest
from conftest import (
    OFFICIAL_SKELETON_TIPS_RIGHT,
    PARENTS,
    build_hand,
    mirror_hand,
    save_official_pkl,
    save_open_npz,
)

from s2h_lib.hand import mano_data, mano_io, mano_pickle
from s2h_lib.hand.mano_data import HandModelError, HandModelFormatError, HandModelNotFoundError
from s2h_lib.hand.mano_io import MANO_URL, convert_mano_pkl, load_hand_model

ARRAY_FIELDS = {
    "v_template": "v_template",
    "faces": "f",
    "J_regressor": "J_regressor",
    "weights": "weights",
    "posedirs": "posedirs",
    "shapedirs": "shapedirs",
    "hands_components": "hands_components",
    "hands_mean": "hands_mean",
    "hands_coeffs": "hands_coeffs",
}


def assert_model_equals(model, arrays):
    for field, key in ARRAY_FIELDS.items():
        np.testing.assert_array_equal(getattr(model, field), arrays[key], err_msg=field)
    np.testing.assert_array_equal(model.kintree_parents, PARENTS)


def assert_same_model(a, b):
    for field in ARRAY_FIELDS:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    for mode in ("skeleton", "regressed"):
        np.testing.assert_array_equal(a.tip_vertex_ids[mode], b.tip_vertex_ids[mode])
    assert a.side == b.side


def test_official_pkl_loads_without_chumpy(mano_dir, official_arrays, no_chumpy):
    model = load_hand_model(mano_dir, "right")
    assert_model_equals(model, official_arrays)
    assert model.faces.dtype == np.int64
    assert model.J_regressor.shape == (16, model.num_verts)
    assert model.tip_vertex_ids["skeleton"].tolist() == list(OFFICIAL_SKELETON_TIPS_RIGHT)
    assert model.tip_vertex_ids["regressed"].tolist() == [744, 320, 443, 555, 672]
    assert model.side == "right"


def test_official_left_pkl_gets_the_shapedirs_fix(mano_dir, official_arrays, no_chumpy):
    model = load_hand_model(mano_dir / "MANO_LEFT.pkl", "left")
    assert_model_equals(model, mirror_hand(official_arrays))
    assert model.tip_vertex_ids["skeleton"].tolist() == [745, 317, 445, 556, 673]
    assert model.meta[mano_data.SHAPEDIRS_FIXED_FLAG] is True


@pytest.mark.parametrize("side", ["right", "left"])
def test_converted_npz_loads_like_the_pkl(mano_dir, tmp_path, side, no_chumpy):
    src = mano_dir / f"MANO_{side.upper()}.pkl"
    out = convert_mano_pkl(src, tmp_path / f"MANO_{side.upper()}.npz")
    with np.load(out, allow_pickle=False) as archive:
        meta = json.loads(str(archive["meta"]))
    assert meta["source_file"] == src.name
    assert meta["source_md5"] == hashlib.md5(src.read_bytes()).hexdigest()
    assert meta["side"] == side
    assert meta["shapedirs_x_sign_fixed_by_converter"] == (side == "left")
    # by folder and by file; the left shapedirs are fixed once, in the converter
    assert_same_model(load_hand_model(tmp_path, side), load_hand_model(src, side))
    assert_same_model(load_hand_model(out, side), load_hand_model(src, side))


def test_left_fix_is_applied_to_an_npz_without_the_flag(mano_dir, official_arrays, tmp_path):
    left = mirror_hand(official_arrays)
    buggy = dict(left, shapedirs=left["shapedirs"] * np.array([-1.0, 1, 1])[:, None])
    np.savez(tmp_path / "MANO_LEFT.npz", **buggy)
    model = load_hand_model(tmp_path, "left")
    np.testing.assert_array_equal(model.shapedirs, left["shapedirs"])


def test_right_hand_is_never_flipped(tmp_path, official_arrays):
    np.savez(tmp_path / "MANO_RIGHT.npz", **official_arrays)
    model = load_hand_model(tmp_path, "right")
    np.testing.assert_array_equal(model.shapedirs, official_arrays["shapedirs"])


def test_open_npz_carries_its_own_tips(open_npz, hand_arrays):
    model = load_hand_model(open_npz, "right")
    assert_model_equals(model, hand_arrays)
    for mode in ("skeleton", "regressed"):
        np.testing.assert_array_equal(model.tip_vertex_ids[mode], hand_arrays["tip_vertex_ids"])


def test_open_model_left_is_the_mirror(monkeypatch, open_npz, hand_arrays):
    monkeypatch.setattr(mano_io, "OPEN_MODEL_PATH", open_npz)
    assert_model_equals(load_hand_model(None, "right"), hand_arrays)
    left = load_hand_model(None, "left")
    assert_model_equals(left, mirror_hand(hand_arrays))
    assert left.side == "left"
    np.testing.assert_array_equal(left.tip_vertex_ids["skeleton"], hand_arrays["tip_vertex_ids"])


def test_mirroring_twice_is_the_identity(open_npz):
    model = load_hand_model(open_npz, "right")
    assert_same_model(mano_data.mirror_model(mano_data.mirror_model(model)), model)


# ---- errors ---------------------------------------------------------------------------------


def test_missing_folder_names_it_and_where_to_get_mano(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(HandModelNotFoundError) as info:
        load_hand_model(missing, "right")
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, HandModelError)
    assert str(missing) in str(info.value)
    assert MANO_URL in str(info.value)
    assert "mano_root=None" in str(info.value)


def test_missing_file_names_the_file_and_the_searched_paths(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_hand_model(tmp_path, "left")
    message = str(info.value)
    assert "MANO_LEFT.pkl" in message
    assert str(tmp_path / "MANO_LEFT.pkl") in message
    assert str(tmp_path / "MANO_LEFT.npz") in message
    assert MANO_URL in message


def test_parent_of_models_folder_gets_a_hint(mano_dir, tmp_path):
    shutil.copytree(mano_dir, tmp_path / "models")
    with pytest.raises(FileNotFoundError, match=r"pass .*models instead"):
        load_hand_model(tmp_path, "right")


def test_missing_open_asset_says_how_to_build_it(monkeypatch, tmp_path):
    missing = tmp_path / "open_hand_right.npz"
    monkeypatch.setattr(mano_io, "OPEN_MODEL_PATH", missing)
    with pytest.raises(HandModelNotFoundError) as info:
        load_hand_model(None, "right")
    assert str(missing) in str(info.value)
    assert "build_open_hand.py" in str(info.value)


@pytest.mark.parametrize("key", ["weights", "shapedirs", "kintree_table", "f"])
def test_pkl_missing_a_key_names_it(tmp_path, hand_arrays, key):
    path = save_official_pkl(hand_arrays, tmp_path / "hand.pkl", shapedirs_bug=False, drop=(key,))
    with pytest.raises(HandModelFormatError, match=f"key '{key}' is missing") as info:
        load_hand_model(path, "right")
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value)


def test_npz_missing_a_key_names_it(tmp_path, hand_arrays):
    arrays = {k: v for k, v in hand_arrays.items() if k != "hands_components"}
    np.savez(tmp_path / "hand.npz", **arrays)
    with pytest.raises(HandModelFormatError, match="'hands_components' is missing"):
        load_hand_model(tmp_path / "hand.npz", "right")


@pytest.mark.parametrize(
    ("key", "bad", "expected"),
    [
        ("weights", lambda a: a["weights"][:, :15], r"\(V, 16\)|\(\d+, 16\)"),
        ("posedirs", lambda a: a["posedirs"][..., :100], r"\(\d+, 3, 135\)"),
        ("J_regressor", lambda a: a["J_regressor"][:-1], r"\(16, \d+\)"),
        ("hands_mean", lambda a: a["hands_mean"][:44], r"\(45,\)"),
        ("v_template", lambda a: a["v_template"][:, :2], r"\(N, 3\)"),
    ],
)
def test_wrong_shape_names_key_expected_and_got(tmp_path, hand_arrays, key, bad, expected):
    arrays = dict(hand_arrays, **{key: bad(hand_arrays)})
    path = save_open_npz(arrays, tmp_path / "hand.npz")
    with pytest.raises(HandModelFormatError) as info:
        load_hand_model(path, "right")
    message = str(info.value)
    assert f"'{key}'" in message
    assert f"shape {arrays[key].shape}" in message
    assert re.search(f"expected {expected}", message)


def test_bad_kintree_is_refused(tmp_path, hand_arrays):
    kintree = hand_arrays["kintree_table"].copy()
    kintree[0, 5] = 0
    path = save_open_npz(dict(hand_arrays, kintree_table=kintree), tmp_path / "hand.npz")
    with pytest.raises(HandModelFormatError, match="kintree_table"):
        load_hand_model(path, "right")


def test_official_tip_ids_need_a_big_enough_mesh(tmp_path, hand_arrays):
    save_official_pkl(hand_arrays, tmp_path / "MANO_RIGHT.pkl", shapedirs_bug=False)
    with pytest.raises(HandModelFormatError, match="taken to be the official MANO mesh"):
        load_hand_model(tmp_path, "right")


def test_chumpy_state_is_read_wherever_the_array_sits(tmp_path):
    array = np.arange(24.0).reshape(2, 3, 4)
    ch_with_slots = mano_pickle._ChumpyStub()
    ch_with_slots.__setstate__(({"_cache": {}}, {"x": array}))
    select = mano_pickle._ChumpyStub()
    select.__setstate__({"a": ch_with_slots, "idxs": np.arange(6), "preferred_shape": (2, 3)})
    plain_select = mano_pickle._ChumpyStub()
    plain_select.__setstate__({"a": array, "idxs": np.array([0, 5])})
    np.testing.assert_array_equal(mano_pickle._chumpy_array(ch_with_slots, "k", tmp_path), array)
    expected = array.ravel()[:6].reshape(2, 3)
    np.testing.assert_array_equal(mano_pickle._chumpy_array(select, "k", tmp_path), expected)
    np.testing.assert_array_equal(mano_pickle._chumpy_array(plain_select, "k", tmp_path), [0, 5])
    unknown = mano_pickle._ChumpyStub()
    unknown.__setstate__({"weird": 1})
    with pytest.raises(HandModelFormatError, match=r"state keys \['weird'\]"):
        mano_pickle._chumpy_array(unknown, "shapedirs", tmp_path)


class _Exploit:
    def __reduce__(self):
        return (os.getcwd, ())


def test_pickle_with_foreign_globals_is_refused(tmp_path):
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Exploit()}, protocol=2))
    with pytest.raises(HandModelFormatError, match=r"refusing to load global '(posix|nt)\.getcwd'"):
        load_hand_model(path, "right")


def test_pickle_that_is_not_a_dict_is_refused(tmp_path):
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(HandModelFormatError, match="not a MANO file: it holds a list"):
        load_hand_model(path, "right")


def test_garbage_file_is_a_format_error(tmp_path):
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(b"this is not a pickle")
    with pytest.raises(HandModelFormatError, match="not a readable MANO pickle"):
        load_hand_model(path, "right")


def test_side_is_checked(mano_dir):
    with pytest.raises(ValueError, match="side must be 'right' or 'left', got 'middle'"):
        load_hand_model(mano_dir, "middle")
    with pytest.raises(HandModelFormatError, match="left hand, but side='right'"):
        load_hand_model(mano_dir / "MANO_LEFT.pkl", "right")


def test_converter_needs_a_side_it_can_tell(mano_dir, tmp_path):
    shutil.copy(mano_dir / "MANO_RIGHT.pkl", tmp_path / "hand.pkl")
    with pytest.raises(ValueError, match="pass side="):
        convert_mano_pkl(tmp_path / "hand.pkl", tmp_path / "out.npz")
    out = convert_mano_pkl(tmp_path / "hand.pkl", tmp_path / "out.npz", side="right")
    assert load_hand_model(out, "right").side == "right"


def test_converter_reports_a_missing_source(tmp_path):
    with pytest.raises(HandModelNotFoundError, match=MANO_URL):
        convert_mano_pkl(tmp_path / "MANO_RIGHT.pkl", tmp_path / "out.npz")


def test_synthetic_hand_regressor_reproduces_the_skeleton():
    arrays = build_hand(seed=2)
    np.testing.assert_allclose(arrays["J_regressor"] @ arrays["v_template"], arrays["J"])
    np.testing.assert_allclose(arrays["weights"].sum(1), 1.0)


@pytest.mark.skipif(not mano_io.OPEN_MODEL_PATH.is_file(), reason="open hand asset not built yet")
def test_shipped_open_model_loads():
    model = load_hand_model(None, "right")
    V = model.num_verts
    assert model.faces.max() < V
    assert model.tip_vertex_ids["skeleton"].max() < V
    np.testing.assert_allclose(model.weights.sum(1), 1.0, atol=1e-6)
    left = load_hand_model(None, "left")
    np.testing.assert_array_equal(left.v_template, model.v_template * [-1, 1, 1])
