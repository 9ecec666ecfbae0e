using ArchNet.IR;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Backends.Tests;

/// <summary>One small graph per op the emulator supports, built with the shared graph builder.</summary>
public static class OpGraphs
{
    public static IEnumerable<string> Names =>
    [
        "Conv3x3", "ConvStride2Pad", "ConvDepthwise", "ConvPointwise", "ConvRelu", "ConvDilatedStrided", "ConvGroupedWide",
        "Conv1d", "ConvTranspose2x2", "ConvTransposePadded", "ConvTransposeGrouped", "ConvTransposeOutputShape", "ConvTranspose1d", "Gemm", "GemmNoTrans", "MatMulConst",
        "MatMulActivations", "MatMulActivationsLongK", "Add", "AddBroadcast", "Sub", "Mul", "Concat", "Slice", "MaxPool", "MaxPoolPadded", "AveragePool",
        "AveragePoolPadded", "GlobalAveragePool", "Relu", "Clip", "Reshape", "Flatten", "Transpose", "Softmax", "Pad",
        "Sigmoid", "ResidualBlock", "DepthToSpaceDcr", "DepthToSpaceCrd", "SpaceToDepth", "PRelu", "ReduceMax",
    ];

    public static Model Build(string name, int seed = 1)
    {
        var b = new GraphBuilder(opset: 17, seed: seed);
        Value y;
        switch (name)
        {
            case "Conv3x3":
            {
                var x = b.Input("x", 2, 3, 8, 8);
                y = b.Op("Conv", [x, b.Random([4, 3, 3, 3]), b.Random([4])], Attribute.Ints("pads", 1, 1, 1, 1));
                break;
            }
            case "ConvStride2Pad":
            {
                var x = b.Input("x", 1, 4, 9, 9);
                y = b.Op("Conv", [x, b.Random([6, 4, 3, 3]), b.Random([6])], Attribute.Ints("pads", 1, 0, 1, 2), Attribute.Ints("strides", 2, 2));
                break;
            }
            case "ConvDepthwise":
            {
                var x = b.Input("x", 1, 8, 7, 7);
                y = b.Op("Conv", [x, b.Random([8, 1, 3, 3]), b.Random([8])], Attribute.Int("group", 8), Attribute.Ints("pads", 1, 1, 1, 1));
                break;
            }
            case "ConvPointwise":
            {
                var x = b.Input("x", 1, 16, 5, 5);
                y = b.Op("Conv", [x, b.Random([8, 16, 1, 1])]);
                break;
            }
            case "ConvRelu":
            {
                var x = b.Input("x", 1, 3, 6, 6);
                y = b.Op("Relu", b.Op("Conv", [x, b.Random([5, 3, 3, 3]), b.Random([5])], Attribute.Ints("pads", 1, 1, 1, 1)));
                break;
            }
            case "ConvDilatedStrided":
            {
                // Three items (one per core at a time), 9 output channels (blocks of 4, 4 and 1), a 3x2 kernel with
                // dilation, stride and uneven padding: columns that start and end inside the padding.
                var x = b.Input("x", 3, 5, 11, 10);
                y = b.Op("Conv", [x, b.Random([9, 5, 3, 2]), b.Random([9])], Attribute.Ints("dilations", 2, 3),
                    Attribute.Ints("strides", 3, 2), Attribute.Ints("pads", 2, 1, 0, 3));
                break;
            }
            case "ConvGroupedWide":
            {
                // One item, two groups of 8 output channels (spread over the cores), 121 pixels (a vector tail).
                var x = b.Input("x", 1, 8, 11, 11);
                y = b.Op("Conv", [x, b.Random([16, 4, 3, 3]), b.Random([16])], Attribute.Int("group", 2), Attribute.Ints("pads", 1, 1, 1, 1));
                break;
            }
            case "Conv1d":
            {
                var x = b.Input("x", 2, 4, 17);
                y = b.Op("Conv", [x, b.Random([6, 4, 5]), b.Random([6])], Attribute.Ints("pads", 3, 1), Attribute.Ints("strides", 2));
                break;
            }
            case "ConvTranspose2x2":
            {
                // The 2x upsampling of segmentation and text-detection heads: taps that never overlap, two items.
                var x = b.Input("x", 2, 4, 5, 6);
                y = b.Op("ConvTranspose", [x, b.Random([4, 6, 2, 2]), b.Random([6])], Attribute.Ints("strides", 2, 2));
                break;
            }
            case "ConvTransposePadded":
            {
                // Overlapping 3x3 taps, uneven pads that crop inputs' landings, output_padding, dilation on one axis.
                var x = b.Input("x", 1, 3, 5, 4);
                y = b.Op("ConvTranspose", [x, b.Random([3, 5, 3, 3]), b.Random([5])], Attribute.Ints("strides", 2, 3),
                    Attribute.Ints("pads", 1, 0, 2, 1), Attribute.Ints("output_padding", 1, 2), Attribute.Ints("dilations", 1, 2));
                break;
            }
            case "ConvTransposeGrouped":
            {
                // Two groups, two output channels each (per-tensor weights: axis 1 would mix the groups), no bias.
                var x = b.Input("x", 1, 6, 4, 4);
                y = b.Op("ConvTranspose", [x, b.Random([6, 2, 3, 3])], Attribute.Int("group", 2), Attribute.Ints("strides", 2, 2),
                    Attribute.Ints("pads", 1, 1, 1, 1));
                break;
            }
            case "ConvTransposeOutputShape":
            {
                // output_shape sets the pads (7 = 2 * 3 + 3 - 2: one row and column of padding split over the sides).
                var x = b.Input("x", 1, 2, 4, 4);
                y = b.Op("ConvTranspose", [x, b.Random([2, 3, 3, 3]), b.Random([3])], Attribute.Ints("strides", 2, 2),
                    Attribute.Ints("output_shape", 8, 7));
                break;
            }
            case "ConvTranspose1d":
            {
                var x = b.Input("x", 2, 3, 9);
                y = b.Op("ConvTranspose", [x, b.Random([3, 4, 4]), b.Random([4])], Attribute.Ints("strides", 2), Attribute.Ints("pads", 1, 2));
                break;
            }
            case "Gemm":
            {
                var x = b.Input("x", 4, 20);
                y = b.Op("Gemm", [x, b.Random([10, 20]), b.Random([10])], Attribute.Int("transB", 1));
                break;
            }
            case "GemmNoTrans":
            {
                var x = b.Input("x", 3, 12);
                y = b.Op("Gemm", [x, b.Random([12, 7]), b.Random([7])]);
                break;
            }
            case "MatMulConst":
            {
                var x = b.Input("x", 2, 5, 16);
                y = b.Op("MatMul", x, b.Random([16, 6]));
                break;
            }
            case "MatMulActivations":
            {
                var x = b.Input("x", 2, 4, 8);
                var z = b.Input("z", 2, 8, 3);
                y = b.Op("MatMul", x, z);
                break;
            }
            case "MatMulActivationsLongK":
            {
                // 8-bit operands over K = 1100 can sum past 2^24, where float32 stops being exact: the emulator sums in
                // 64-bit integers (a sequence of 384 or 512 tokens in attention's P V).
                var x = b.Input("x", 1, 2, 1100);
                var z = b.Input("z", 1, 1100, 3);
                y = b.Op("MatMul", x, z);
                break;
            }
            case "Add":
            {
                var x = b.Input("x", 1, 4, 5, 5);
                var z = b.Input("z", 1, 4, 5, 5);
                y = b.Op("Add", x, z);
                break;
            }
            case "AddBroadcast":
            {
                var x = b.Input("x", 1, 4, 5, 5);
                y = b.Op("Add", x, b.Random([4, 1, 1]));
                break;
            }
            case "Sub":
            {
                var x = b.Input("x", 2, 6);
                var z = b.Input("z", 2, 6);
                y = b.Op("Sub", x, z);
                break;
            }
            case "Mul":
            {
                var x = b.Input("x", 2, 6);
                var z = b.Input("z", 2, 6);
                y = b.Op("Mul", x, z);
                break;
            }
            case "Concat":
            {
                var x = b.Input("x", 1, 2, 4, 4);
                var z = b.Input("z", 1, 3, 4, 4);
                y = b.Op("Concat", [b.Op("Relu", x), z], Attribute.Int("axis", 1));
                break;
            }
            case "Slice":
            {
                var x = b.Input("x", 1, 8, 6, 6);
                y = b.Op("Slice", x, b.Ints(2), b.Ints(6), b.Ints(1));
                break;
            }
            case "MaxPool":
            {
                var x = b.Input("x", 1, 3, 8, 8);
                y = b.Op("MaxPool", [x], Attribute.Ints("kernel_shape", 2, 2), Attribute.Ints("strides", 2, 2));
                break;
            }
            case "MaxPoolPadded":
            {
                var x = b.Input("x", 1, 3, 7, 7);
                y = b.Op("MaxPool", [x], Attribute.Ints("kernel_shape", 3, 3), Attribute.Ints("strides", 2, 2), Attribute.Ints("pads", 1, 1, 1, 1));
                break;
            }
            case "AveragePool":
            {
                var x = b.Input("x", 1, 3, 8, 8);
                y = b.Op("AveragePool", [x], Attribute.Ints("kernel_shape", 2, 2), Attribute.Ints("strides", 2, 2));
                break;
            }
            case "AveragePoolPadded":
            {
                var x = b.Input("x", 1, 2, 7, 7);
                y = b.Op("AveragePool", [x], Attribute.Ints("kernel_shape", 3, 3), Attribute.Ints("strides", 2, 2), Attribute.Ints("pads", 1, 1, 1, 1));
                break;
            }
            case "GlobalAveragePool":
            {
                var x = b.Input("x", 2, 5, 4, 4);
                y = b.Op("GlobalAveragePool", x);
                break;
            }
            case "Relu":
                y = b.Op("Relu", b.Input("x", 2, 10));
                break;
            case "Clip":
                y = b.Op("Clip", b.Input("x", 2, 10), b.Scalar(-0.25f), b.Scalar(0.5f));
                break;
            case "Reshape":
                y = b.Op("Reshape", b.Input("x", 2, 3, 4), b.Ints(6, -1));
                break;
            case "Flatten":
                y = b.Op("Flatten", [b.Input("x", 2, 3, 2, 2)], Attribute.Int("axis", 1));
                break;
            case "Transpose":
                y = b.Op("Transpose", [b.Input("x", 2, 3, 4)], Attribute.Ints("perm", 2, 0, 1));
                break;
            case "Softmax":
                y = b.Op("Softmax", [b.Input("x", 3, 7)], Attribute.Int("axis", -1));
                break;
            case "Pad":
                y = b.Op("Pad", b.Input("x", 1, 2, 3, 3), b.Ints(0, 0, 1, 2, 0, 0, 2, 1));
                break;
            case "Sigmoid":
                y = b.Op("Sigmoid", b.Input("x", 2, 5));
                break;
            case "ResidualBlock":
            {
                var x = b.Input("x", 1, 4, 6, 6);
                var c1 = b.Op("Relu", b.Op("Conv", [x, b.Random([4, 4, 3, 3]), b.Random([4])], Attribute.Ints("pads", 1, 1, 1, 1)));
                var c2 = b.Op("Conv", [c1, b.Random([4, 4, 3, 3]), b.Random([4])], Attribute.Ints("pads", 1, 1, 1, 1));
                var s = b.Op("Relu", b.Op("Add", c2, x));
                var p = b.Op("MaxPool", [s], Attribute.Ints("kernel_shape", 2, 2), Attribute.Ints("strides", 2, 2));
                var g = b.Op("Flatten", b.Op("GlobalAveragePool", p));
                y = b.Op("Gemm", [g, b.Random([3, 4]), b.Random([3])], Attribute.Int("transB", 1));
                break;
            }
            case "DepthToSpaceDcr" or "DepthToSpaceCrd":
                y = b.Op("DepthToSpace", [b.Input("x", 2, 8, 3, 2)], Attribute.Int("blocksize", 2),
                    Attribute.String("mode", name == "DepthToSpaceCrd" ? "CRD" : "DCR"));
                break;
            case "SpaceToDepth":
                y = b.Op("SpaceToDepth", [b.Input("x", 1, 3, 6, 4)], Attribute.Int("blocksize", 2));
                break;
            case "PRelu":
                y = b.Op("PRelu", b.Input("x", 1, 4, 3, 3), b.Random([4, 1, 1], 0.05f, 0.5f));
                break;
            case "ReduceMax":
                y = b.Op("ReduceMax", [b.Input("x", 2, 3, 5)], Attribute.Ints("axes", -1));
                break;
            default: throw new ArgumentException(name);
        }
        b.Output(y);
        return b.Build();
    }
}
