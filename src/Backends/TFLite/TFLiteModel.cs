using Google.FlatBuffers;
using S = ArchNet.Backends.TFLite.TFLiteSchema;

namespace ArchNet.Backends.TFLite;

/// <summary>A tensor of the flatbuffer: shape (NHWC for 4D activations), type, buffer (0: none), quantization.</summary>
internal sealed record TflTensor(string Name, int[] Shape, sbyte Type, int Buffer, float[]? Scales = null, long[]? ZeroPoints = null, int QuantizedDimension = 0);

/// <summary>An operator: builtin code, its options (union type and a writer of the table), input and output tensors.</summary>
internal sealed record TflOperator(int Code, byte OptionsType, Func<FlatBufferBuilder, int> Options, int[] Inputs, int[] Outputs);

/// <summary>
/// A TFLite model being assembled (one subgraph), and its serialization: identifier TFL3, schema version 3, both
/// operator-code fields set and a builtin-options table on every operator (older readers look only at the deprecated
/// code, and some dereference the options without checking).
/// </summary>
internal sealed class TflModel
{
    public List<TflTensor> Tensors { get; } = [];
    public List<TflOperator> Operators { get; } = [];
    public List<byte[]> Buffers { get; } = [[]]; // buffer 0: the empty sentinel every non-constant tensor points at
    public List<int> Inputs { get; } = [];
    public List<int> Outputs { get; } = [];

    public int AddTensor(TflTensor t) { Tensors.Add(t); return Tensors.Count - 1; }

    public int AddConstant(string name, int[] shape, sbyte type, byte[] data, float[]? scales = null, long[]? zeroPoints = null, int quantizedDimension = 0)
    {
        Buffers.Add(data);
        return AddTensor(new TflTensor(name, shape, type, Buffers.Count - 1, scales, zeroPoints, quantizedDimension));
    }

    public byte[] Serialize(string name, string description)
    {
        var b = new FlatBufferBuilder(1 << 16) { ForceDefaults = true };
        var codes = Operators.Select(o => o.Code).Distinct().OrderBy(c => c).ToList();

        var buffers = Buffers.Select(data =>
        {
            int? vec = null;
            if (data.Length > 0)
            {
                b.StartVector(1, data.Length, 16); // schema.fbs: force_align 16
                for (var i = data.Length - 1; i >= 0; i--) b.AddByte(data[i]);
                vec = b.EndVector().Value;
            }
            b.StartTable(S.Buffer.Count);
            if (vec is { } v) b.AddOffset(S.Buffer.Data, v, 0);
            return b.EndTable();
        }).ToList();

        var tensors = Tensors.Select(t =>
        {
            var tname = b.CreateString(t.Name).Value;
            var shape = IntVector(b, t.Shape);
            int? quant = null;
            if (t.Scales is { } scales)
            {
                b.StartVector(4, scales.Length, 4);
                for (var i = scales.Length - 1; i >= 0; i--) b.AddFloat(scales[i]);
                var sv = b.EndVector().Value;
                var zps = t.ZeroPoints!;
                b.StartVector(8, zps.Length, 8);
                for (var i = zps.Length - 1; i >= 0; i--) b.AddLong(zps[i]);
                var zv = b.EndVector().Value;
                b.StartTable(S.Quantization.Count);
                b.AddOffset(S.Quantization.Scale, sv, 0);
                b.AddOffset(S.Quantization.ZeroPoint, zv, 0);
                b.AddInt(S.Quantization.QuantizedDimension, t.QuantizedDimension, 0);
                quant = b.EndTable();
            }
            b.StartTable(S.Tensor.Count);
            b.AddOffset(S.Tensor.Shape, shape, 0);
            b.AddSbyte(S.Tensor.Type, t.Type, 0);
            b.AddUint(S.Tensor.Buffer, (uint)t.Buffer, 0);
            b.AddOffset(S.Tensor.Name, tname, 0);
            if (quant is { } q) b.AddOffset(S.Tensor.Quantization, q, 0);
            return b.EndTable();
        }).ToList();

        var operators = Operators.Select(o =>
        {
            var options = o.Options(b);
            var ins = IntVector(b, o.Inputs);
            var outs = IntVector(b, o.Outputs);
            b.StartTable(S.Operator.Count);
            b.AddUint(S.Operator.OpcodeIndex, (uint)codes.IndexOf(o.Code), 0);
            b.AddOffset(S.Operator.Inputs, ins, 0);
            b.AddOffset(S.Operator.Outputs, outs, 0);
            b.AddByte(S.Operator.BuiltinOptionsType, o.OptionsType, 0);
            b.AddOffset(S.Operator.BuiltinOptions, options, 0);
            return b.EndTable();
        }).ToList();

        var sgName = b.CreateString(name).Value;
        var tv = OffsetVector(b, tensors);
        var iv = IntVector(b, [.. Inputs]);
        var ov = IntVector(b, [.. Outputs]);
        var opv = OffsetVector(b, operators);
        b.StartTable(S.SubGraph.Count);
        b.AddOffset(S.SubGraph.Tensors, tv, 0);
        b.AddOffset(S.SubGraph.Inputs, iv, 0);
        b.AddOffset(S.SubGraph.Outputs, ov, 0);
        b.AddOffset(S.SubGraph.Operators, opv, 0);
        b.AddOffset(S.SubGraph.Name, sgName, 0);
        var subgraph = b.EndTable();

        var opcodes = codes.Select(c =>
        {
            b.StartTable(S.OperatorCode.Count);
            // The deprecated byte holds codes below 127; above, it holds 127 (PLACEHOLDER_FOR_GREATER_OP_CODES).
            b.AddSbyte(S.OperatorCode.DeprecatedBuiltinCode, (sbyte)Math.Min(c, 127), 0);
            b.AddInt(S.OperatorCode.Version, 1, 1);
            b.AddInt(S.OperatorCode.BuiltinCode, c, 0);
            return b.EndTable();
        }).ToList();

        var desc = b.CreateString(description).Value;
        var codesV = OffsetVector(b, opcodes);
        var sgV = OffsetVector(b, [subgraph]);
        var bufV = OffsetVector(b, buffers);
        b.StartTable(S.Model.Count);
        b.AddUint(S.Model.Version, S.Version, 0);
        b.AddOffset(S.Model.OperatorCodes, codesV, 0);
        b.AddOffset(S.Model.Subgraphs, sgV, 0);
        b.AddOffset(S.Model.Description, desc, 0);
        b.AddOffset(S.Model.Buffers, bufV, 0);
        b.Finish(b.EndTable(), S.FileIdentifier);
        return b.SizedByteArray();
    }

    public static int IntVector(FlatBufferBuilder b, int[] values)
    {
        b.StartVector(4, values.Length, 4);
        for (var i = values.Length - 1; i >= 0; i--) b.AddInt(values[i]);
        return b.EndVector().Value;
    }

    private static int OffsetVector(FlatBufferBuilder b, IReadOnlyList<int> offsets)
    {
        b.StartVector(4, offsets.Count, 4);
        for (var i = offsets.Count - 1; i >= 0; i--) b.AddOffset(offsets[i]);
        return b.EndVector().Value;
    }

    /// <summary>An options table with no fields (Pad, Quantize, Dequantize, ...): always written, never omitted.</summary>
    public static int EmptyTable(FlatBufferBuilder b) { b.StartTable(0); return b.EndTable(); }
}
