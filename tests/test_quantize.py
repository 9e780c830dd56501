"""int8 plan (blocks, sensitivity, config) and the fp32 bounds, without converting anything."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from d3ke_edge.export.targets.tflite import block_regex
from d3ke_edge.export.tolerance import compare_outputs
from d3ke_edge.models import get_model
from d3ke_edge.quantize import QuantConfig, backbone_blocks, plan_int8


def test_backbone_blocks_follow_each_family():
    assert backbone_blocks(get_model("d3ke_mnv3_small", input_size=64).backbone) == [str(i) for i in range(13)]
    resnet = backbone_blocks(get_model("d3ke_resnet18", input_size=64).backbone)
    assert resnet[0] == "0" and "4.0" in resnet and "7.1" in resnet and "1" not in resnet  # conv1 + BN folded
    eff = backbone_blocks(get_model("d3ke_effnet_b0", input_size=64).backbone)
    assert "0" in eff and "2.1" in eff and "8" in eff  # EfficientNet stages split into their MBConv blocks


def test_block_regex_selects_exactly_one_block():
    name = ("d3ke_edge.models.graphs.PerFrameGraph/torch.nn.modules.container.Sequential_backbone/"
            "torchvision.models.mobilenetv3.InvertedResidual_{}/torch.nn.modules.conv.Conv2d_0;")
    assert re.fullmatch(block_regex("11"), name.format(11))
    assert not re.fullmatch(block_regex("1"), name.format(11))
    nested = ("x/torch.nn.modules.container.Sequential_backbone/torch.nn.modules.container.Sequential_layer4/"
              "torchvision.models.resnet.Bottleneck_1/torch.nn.modules.conv.Conv2d_conv1")
    assert re.fullmatch(block_regex("layer4.1"), nested) and not re.fullmatch(block_regex("layer4.0"), nested)


def test_quant_config_is_validated():
    with pytest.raises(ValueError, match="calib_frames"):
        QuantConfig(calib_frames=2)
    with pytest.raises(ValueError, match="budget_deg"):
        QuantConfig(budget_deg=0)
    with pytest.raises(ValueError, match="module paths"):
        QuantConfig(float_blocks=("",))


def test_plan_names_unknown_blocks_and_honours_a_given_list():
    model = get_model("d3ke_mnv3_small", input_size=32).eval()
    calib = [(torch.rand(1, 3, 32, 32),) for _ in range(8)]
    with pytest.raises(ValueError, match="not blocks of this backbone.*0, 1, 2"):
        plan_int8(model, calib, QuantConfig(calib_frames=8, float_blocks=("layer9",)))
    plan = plan_int8(model, calib, QuantConfig(calib_frames=8, float_blocks=("12",)))
    assert plan.float_blocks == ("12",) and plan.metadata()["calib_frames"] == 8
    assert plan.report["decided_by"] == "configuration" and math.isfinite(plan.report["simulated_drift_deg"])


def test_fp32_bounds_are_per_output_relative_for_raw_params_and_fail_nan():
    ref = [np.array([[200.0, 1.0], [2.0, 1.0]]), np.zeros((2, 3))]
    got = [ref[0] + np.array([[0.5, 0.0], [0.0, 0.0]]), np.array([[0.0, 0.0, 0.0], [np.nan, 0.0, 0.0]])]
    out = compare_outputs(["params", "coordinates"], ref, got, ["a", "b"])
    assert out["params"]["pass"] and out["params"]["worst_frame"] == "a"  # 0.5 of 200 is within 5e-3 relative
    assert not out["coordinates"]["pass"] and out["coordinates"]["worst_frame"] == "b"
    small = compare_outputs(["params"], [np.array([[2.0, 1.0]])], [np.array([[2.5, 1.0]])])
    assert not small["params"]["pass"] and small["params"]["ratio"] > 1  # the same 0.5 on a small frame fails
