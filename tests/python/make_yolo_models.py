#!/usr/bin/env python3
"""Build tiny deterministic YOLO-layout ONNX graphs for the Rust model-adapter tests, then self-check them.

usage: make_yolo_models.py OUT_DIR

Writes (opset 17, IR version 8; overwritten on every run, byte-identical across runs):
  yolo_raw.onnx        images f32 [batch,3,height,width] -> output0 f32 [batch, 4+3, 4]
                       (YOLOv8 raw head: rows 0..3 = cx,cy,w,h in input pixels, rows 4..6 = class probs)
  yolo_e2e.onnx        images -> output0 f32 [batch, 3, 6]: x1,y1,x2,y2 (input pixels), score, class_id
  unknown_layout.onnx  images -> logits f32 [batch, 7] (an output layout no adapter should accept)
  yolo_e2e_nms_export.onnx  yolo_e2e as an Ultralytics `nms=True` export with a dynamic batch behaves:
                       only image 0 of a batch gets rows (the rest are zeros); metadata args say 'nms': True
  yolo_e2e_misdeclared.onnx yolo_e2e declaring output0 [batch, 3, 6] but giving it as [batch, 18] (ONNX Runtime
                       only warns), for the run-time shape check; not passed through onnx.checker, whose strict
                       shape inference refuses the contradiction
The two YOLO graphs carry Ultralytics metadata_props: names, imgsz, stride, task, end2end.

Per image, m = GlobalAveragePool(images) = mean of R, G, B. Anchor/row k (k = 0,1,2) scores class k with
sigmoid(20*(m[k]-0.5)); every other class score is sigmoid(-20) ~ 0, and raw anchor 3 scores nothing.
Boxes are constants for a 128x128 input (cx,cy,w,h): a0 (32,32,32,32), a1 (96,32,32,48), a2 (64,96,64,32),
a3 (64,64,16,16). So a pure red / green / blue frame (0..1 units) gives one detection > 0.5: class 0 at
anchor 0 / class 1 at anchor 1 / class 2 at anchor 2; a black frame gives none.
Self-check: onnx.checker on each file, then onnxruntime on a batch [red, green, blue, black] of 128x128
images, asserting that output row i belongs to image i. Exits non-zero with a message if anything is off.
"""
import ast
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

C, N = 3, 4
NAMES = {0: "person", 1: "car", 2: "dog"}
BOXES = np.array([[32, 32, 32, 32], [96, 32, 32, 48], [64, 96, 64, 32], [64, 64, 16, 16]], np.float32)  # cx,cy,w,h
CORNERS = np.concatenate([BOXES[:, :2] - BOXES[:, 2:] / 2, BOXES[:, :2] + BOXES[:, 2:] / 2], 1)  # x1,y1,x2,y2


def const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def common_nodes():
    """images -> z [B,3] = 20*(mean(channel) - 0.5), plus the shape helper `batch` [1] (int64)."""
    nodes = [
        helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),     # [B,3,1,1]
        helper.make_node("Flatten", ["pooled"], ["m"], axis=1),             # [B,3]
        helper.make_node("Sub", ["m", "half"], ["m_centred"]),
        helper.make_node("Mul", ["m_centred", "gain"], ["z"]),              # [B,3]
        helper.make_node("Shape", ["images"], ["batch"], start=0, end=1),   # [1] = B
    ]
    inits = [const("half", np.float32(0.5)), const("gain", np.float32(20.0))]
    return nodes, inits


def expand_const(name, arr, nodes, inits):
    """Broadcast a constant of shape [1,...] to [B,...]; returns the output name."""
    inits += [const(name + "_c", arr[None].astype(np.float32)), const(name + "_tail", np.array(arr.shape, np.int64))]
    nodes += [helper.make_node("Concat", ["batch", name + "_tail"], [name + "_shape"], axis=0),
              helper.make_node("Expand", [name + "_c", name + "_shape"], [name])]
    return name


def model(name, nodes, inits, out_name, out_shape, meta):
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, "height", "width"])
    y = helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)
    g = helper.make_graph(nodes, name, [x], [y], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="prelabel-tests",
                          producer_version="1", ir_version=8)
    helper.set_model_props(m, meta)
    return m


def yolo_meta(end2end):
    return {"names": repr(NAMES), "imgsz": "[128, 128]", "stride": "32", "task": "detect", "end2end": str(end2end)}


def build_raw():
    nodes, inits = common_nodes()
    diag = np.zeros((C, N), np.float32); diag[np.arange(C), np.arange(C)] = 1  # class c scored at anchor c
    inits += [const("diag", diag[None]), const("off", ((diag - 1) * 20)[None]), const("ax2", np.array([2], np.int64))]
    nodes += [helper.make_node("Unsqueeze", ["z", "ax2"], ["z3"]),            # [B,3,1]
              helper.make_node("Mul", ["z3", "diag"], ["zd"]),                # [B,3,4]
              helper.make_node("Add", ["zd", "off"], ["logit"]),              # off-diagonal -> -20
              helper.make_node("Sigmoid", ["logit"], ["cls"])]
    boxes = expand_const("boxes", BOXES.T, nodes, inits)                      # [B,4,4] rows cx,cy,w,h
    nodes.append(helper.make_node("Concat", [boxes, "cls"], ["output0"], axis=1))
    return model("yolo_raw", nodes, inits, "output0", ["batch", 4 + C, N], yolo_meta(False))


def build_e2e():
    nodes, inits = common_nodes()
    inits.append(const("ax2", np.array([2], np.int64)))
    nodes += [helper.make_node("Sigmoid", ["z"], ["score"]),
              helper.make_node("Unsqueeze", ["score", "ax2"], ["score3"])]   # [B,3,1]
    boxes = expand_const("boxes", CORNERS[:C], nodes, inits)                  # [B,3,4]
    cls = expand_const("cls", np.arange(C, dtype=np.float32)[:, None], nodes, inits)  # [B,3,1]
    nodes.append(helper.make_node("Concat", [boxes, "score3", cls], ["output0"], axis=2))
    return model("yolo_e2e", nodes, inits, "output0", ["batch", C, 6], yolo_meta(True))


def build_nms_export():
    """yolo_e2e as Ultralytics exports it with `nms=True` and a dynamic batch: only image 0 of a
    batch gets rows, the others are zeros (metadata `args` says `'nms': True`)."""
    m = build_e2e()
    g = m.graph
    g.output[0].name = "output0"
    for node in g.node:
        node.output[:] = ["e2e_out" if o == "output0" else o for o in node.output]
    g.initializer.extend([const("zero_i", np.array(0, np.int64)), const("one_i", np.array(1, np.int64)),
                          const("mask_shape", np.array([-1, 1, 1], np.int64))])
    g.node.extend([helper.make_node("Shape", ["images"], ["in_shape"], start=0, end=1),
                   helper.make_node("Squeeze", ["in_shape"], ["batch_n"]),
                   helper.make_node("Range", ["zero_i", "batch_n", "one_i"], ["row"]),
                   helper.make_node("Equal", ["row", "zero_i"], ["is_first"]),
                   helper.make_node("Cast", ["is_first"], ["first_f"], to=TensorProto.FLOAT),
                   helper.make_node("Reshape", ["first_f", "mask_shape"], ["mask"]),
                   helper.make_node("Mul", ["e2e_out", "mask"], ["output0"])])
    g.name = "yolo_e2e_nms_export"
    helper.set_model_props(m, {**yolo_meta(True), "args": "{'batch': 1, 'nms': True, 'dynamic': True}"})
    return m


def build_misdeclared():
    """yolo_e2e whose output0 is flattened to [batch, 18] while it still declares [batch, 3, 6]."""
    m = build_e2e()
    g = m.graph
    for node in g.node:
        node.output[:] = ["e2e_out" if o == "output0" else o for o in node.output]
    # The target shape passes through a Compress whose mask is computed from the input's shape
    # (all true), so shape inference cannot tell its length and ONNX Runtime keeps the declaration.
    g.initializer.extend([const("flat_shape", np.array([-1, C * 6], np.int64)), const("zero_l", np.array(0, np.int64))])
    g.node.extend([helper.make_node("Shape", ["images"], ["lead_dims"], start=0, end=2),
                   helper.make_node("Greater", ["lead_dims", "zero_l"], ["keep"]),
                   helper.make_node("Compress", ["flat_shape", "keep"], ["flat_shape_dyn"], axis=0),
                   helper.make_node("Reshape", ["e2e_out", "flat_shape_dyn"], ["output0"])])
    g.name = "yolo_e2e_misdeclared"
    return m


def build_unknown():
    nodes, inits = common_nodes()
    w = np.arange(21, dtype=np.float32).reshape(3, 7) / 10
    inits.append(const("w", w))
    nodes.append(helper.make_node("MatMul", ["m", "w"], ["logits"]))
    return model("unknown_layout", nodes, inits, "logits", ["batch", 7], {})


def check(cond, msg):
    if not cond:
        sys.exit(f"make_yolo_models: self-check failed: {msg}")


def self_check(paths):
    import onnxruntime as ort

    x = np.zeros((4, 3, 128, 128), np.float32)
    for i in range(3):
        x[i, i] = 1.0  # red, green, blue, black
    outs = {}
    for key, path in paths.items():
        onnx.checker.check_model(onnx.load(path), full_check=True)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        outs[key] = sess.run(None, {"images": x})[0]
        single = sess.run(None, {"images": x[3:4]})[0]
        if key != "nms_export":
            check(np.allclose(single[0], outs[key][3]), f"{key}: batch row 3 != batch-1 run on image 3")
    raw, e2e, unk = outs["raw"], outs["e2e"], outs["unknown"]
    nms = outs["nms_export"]
    check(np.array_equal(nms[0], e2e[0]) and not nms[1:].any(), "nms_export: only image 0 of a batch has rows")
    sess = ort.InferenceSession(paths["nms_export"], providers=["CPUExecutionProvider"])
    check(np.array_equal(sess.run(None, {"images": x[1:2]})[0][0], e2e[1]), "nms_export: batch 1 answers for image 1")
    check(raw.shape == (4, 4 + C, N) and e2e.shape == (4, C, 6) and unk.shape == (4, 7),
          f"shapes raw {raw.shape} e2e {e2e.shape} unknown {unk.shape}")
    for i in range(4):
        check(np.array_equal(raw[i, :4], BOXES.T), f"raw image {i}: boxes {raw[i, :4].T.tolist()}")
        check(np.array_equal(e2e[i, :, :4], CORNERS[:C]), f"e2e image {i}: boxes {e2e[i, :, :4].tolist()}")
        check(np.array_equal(e2e[i, :, 5], np.arange(C)), f"e2e image {i}: class ids {e2e[i, :, 5].tolist()}")
        want = np.zeros((C, N), bool)
        if i < 3:
            want[i, i] = True
        check(np.array_equal(raw[i, 4:] > 0.5, want), f"raw image {i}: class scores {raw[i, 4:].tolist()}")
        check(np.array_equal(e2e[i, :, 4] > 0.5, want[:, :C].diagonal()), f"e2e image {i}: {e2e[i].tolist()}")
        check(i == 3 or (raw[i, 4 + i, i] > 0.999 and e2e[i, i, 4] > 0.999), f"image {i}: top score too low")
        check(raw[i, 4:].sum() - (raw[i, 4 + i, i] if i < 3 else 0) < 1e-3, f"raw image {i}: stray scores")
    check(not np.allclose(unk[0], unk[3]), "unknown_layout output does not depend on the input")
    for key in ("raw", "e2e"):
        props = {p.key: p.value for p in onnx.load(paths[key]).metadata_props}
        check(ast.literal_eval(props["names"]) == NAMES and props["end2end"] == str(key == "e2e"), f"{key} metadata")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for key, fname, build in (("raw", "yolo_raw.onnx", build_raw), ("e2e", "yolo_e2e.onnx", build_e2e),
                              ("unknown", "unknown_layout.onnx", build_unknown),
                              ("nms_export", "yolo_e2e_nms_export.onnx", build_nms_export)):
        paths[key] = os.path.join(out_dir, fname)
        m = build()
        onnx.checker.check_model(m, full_check=True)
        tmp = paths[key] + ".tmp"
        onnx.save(m, tmp)
        os.replace(tmp, paths[key])
    self_check(paths)
    misdeclared = os.path.join(out_dir, "yolo_e2e_misdeclared.onnx")
    onnx.save(build_misdeclared(), misdeclared + ".tmp")
    os.replace(misdeclared + ".tmp", misdeclared)
    import onnxruntime as ort
    sess = ort.InferenceSession(misdeclared, providers=["CPUExecutionProvider"])
    declared = [d.dim_param or d.dim_value for d in onnx.load(misdeclared).graph.output[0].type.tensor_type.shape.dim]
    given = sess.run(None, {"images": np.zeros((2, 3, 128, 128), np.float32)})[0].shape
    check(declared == ["batch", C, 6] and given == (2, C * 6), f"misdeclared: declares {declared}, gives {given}")
    paths["misdeclared"] = misdeclared
    print(f"make_yolo_models: wrote and checked {', '.join(sorted(os.path.basename(p) for p in paths.values()))} "
          f"in {out_dir}")


if __name__ == "__main__":
    main()
