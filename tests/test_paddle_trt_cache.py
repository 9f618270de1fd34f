"""PaddleOCR's TensorRT mode writes its shape files and engines into a cache folder of
links to the shipped models, never into site-packages; testable without a GPU."""
import os

from adapters.paddleocr import MODEL_DIRS, _shipped_models, missing_shape_files, writable_models


def test_models_are_linked_into_a_writable_folder_and_shape_files_are_looked_for_there(tmp_path):
    shipped = _shipped_models()
    linked = writable_models(shipped, str(tmp_path / "cache"))
    assert linked["rec_char_dict_path"] == shipped["rec_char_dict_path"]
    for key in MODEL_DIRS:
        assert linked[key].startswith(str(tmp_path))
        model = os.path.join(linked[key], "inference.pdiparams")
        assert os.path.realpath(model) == os.path.realpath(os.path.join(shipped[key], "inference.pdiparams"))
    assert writable_models(shipped, str(tmp_path / "cache")) == linked  # a second load reuses the links
    assert missing_shape_files(linked, use_cls=False)
    for key in ("det_model_dir", "rec_model_dir"):
        open(os.path.join(linked[key], key[:3] + "_trt_dynamic_shape.txt"), "w").close()
    assert not missing_shape_files(linked, use_cls=False)
    assert missing_shape_files(linked, use_cls=True)  # the angle classifier's is still absent
