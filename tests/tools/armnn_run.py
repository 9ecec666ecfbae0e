#!/usr/bin/python3
"""Runs a .tflite model on Arm NN's CpuRef backend (Debian's python3-pyarmnn 20.08): the independent oracle of the
tflite backend's tests. Run with Debian's /usr/bin/python3, the interpreter the binding is built for.

usage: armnn_run.py MODEL.tflite OUT_DIR INPUT0.npy [INPUT1.npy ...]
Each input is one array shaped like the model's input (dtype cast to the input's type), or a stack of them with one
leading axis more: then every item runs in turn and the outputs are stacked. Writes OUT_DIR/output_<i>.npy.
Exits 2 with one line on stderr when the parser or the runtime refuses the model.
"""
import os
import sys

import numpy as np
import pyarmnn as ann


def main(argv):
    if len(argv) < 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 1
    model, out_dir, input_paths = argv[1], argv[2], argv[3:]
    try:
        parser = ann.ITfLiteParser()
        network = parser.CreateNetworkFromBinaryFile(model)
        in_names = parser.GetSubgraphInputTensorNames(0)
        out_names = parser.GetSubgraphOutputTensorNames(0)
        in_infos = [parser.GetNetworkInputBindingInfo(0, n) for n in in_names]
        out_infos = [parser.GetNetworkOutputBindingInfo(0, n) for n in out_names]
        runtime = ann.IRuntime(ann.CreationOptions())
        optimized, _ = ann.Optimize(network, [ann.BackendId("CpuRef")], runtime.GetDeviceSpec(), ann.OptimizerOptions())
        net_id, _ = runtime.LoadNetwork(optimized)
    except Exception as e:  # the parser's and runtime's own message, on one line
        print("armnn: " + " ".join(str(e).split()), file=sys.stderr)
        return 2
    if len(input_paths) != len(in_infos):
        print(f"armnn: the model has {len(in_infos)} inputs, {len(input_paths)} given", file=sys.stderr)
        return 1
    dtypes = {ann.DataType_Float32: np.float32, ann.DataType_QAsymmS8: np.int8, ann.DataType_QAsymmU8: np.uint8,
              ann.DataType_QSymmS8: np.int8, ann.DataType_Signed32: np.int32, ann.DataType_QSymmS16: np.int16}
    arrays, batched = [], None
    for path, (_, info) in zip(input_paths, in_infos):
        a = np.load(path)
        rank = info.GetNumDimensions()
        b = a.ndim == rank + 1
        if batched is not None and b != batched:
            print("armnn: inputs disagree on a leading batch axis", file=sys.stderr)
            return 1
        batched = b
        arrays.append(a.astype(dtypes[info.GetDataType()]))
    items = arrays[0].shape[0] if batched else 1
    results = [[] for _ in out_infos]
    for i in range(items):
        feed = [np.ascontiguousarray(a[i] if batched else a) for a in arrays]
        inputs = ann.make_input_tensors(in_infos, feed)
        outputs = ann.make_output_tensors(out_infos)
        runtime.EnqueueWorkload(net_id, inputs, outputs)
        for k, r in enumerate(ann.workload_tensors_to_ndarray(outputs)):
            results[k].append(r.reshape([out_infos[k][1].GetShape()[d] for d in range(out_infos[k][1].GetNumDimensions())]))
    os.makedirs(out_dir, exist_ok=True)
    for k, r in enumerate(results):
        np.save(os.path.join(out_dir, f"output_{k}.npy"), np.stack(r) if batched else r[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
