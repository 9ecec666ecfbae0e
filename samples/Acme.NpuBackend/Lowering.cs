using ArchNet.Backends.Abstractions;

namespace Acme.NpuBackend;

/// <summary>
/// Lowers a quantized graph to an Acme NPU-1 command stream. Validation runs this same code and keeps only the
/// diagnostics, so "can the NPU run it?" and "how it runs" cannot disagree.
/// </summary>
internal sealed class Lowering
{
    private readonly QuantizedGraph _graph;
    private readonly List<BackendDiagnostic> _problems = [];
    private readonly List<StreamCommand> _commands = [];
    private readonly List<StreamTensor?> _tensors = [];
    private readonly Dictionary<string, int> _tensorIds = new(StringComparer.Ordinal);
    private readonly List<(int Id, int Size)> _sizes = [];
    private readonly Dictionary<int, (int First, int Last)> _life = [];
    private readonly MemoryStream _weights = new();

    private Lowering(QuantizedGraph graph) => _graph = graph;

    public static (CommandStream? Stream, IReadOnlyList<BackendDiagnostic> Problems) Run(QuantizedGraph graph)
    {
        var l = new Lowering(graph);
        var stream = l.Lower();
        return (l._problems.Count == 0 ? stream : null, l._problems);
    }

    private CommandStream Lower()
    {
        if (_graph.Semantics.AccumulatorBits > 32) Problem($"accumulators are 32-bit on the NPU, the graph asks for {_graph.Semantics.AccumulatorBits}");
        for (var i = 0; i < _graph.Inputs.Length; i++)
        {
            var t = Activation(_graph.Inputs[i], null);
            if (t >= 0) Emit(Opcode.Input, [t], t, [t, i]);
        }
        foreach (var node in _graph.Nodes) LowerNode(node);
        for (var i = 0; i < _graph.Outputs.Length; i++)
        {
            if (!_tensorIds.TryGetValue(_graph.Outputs[i].Name, out var t)) { Problem($"graph output '{_graph.Outputs[i].Name}' is not computed on the NPU"); continue; }
            Emit(Opcode.Output, [t], -1, [t, i]);
            _life[t] = (_life[t].First, int.MaxValue); // outputs stay in the arena until the host reads them
        }
        var arena = PlanMemory();
        return new CommandStream((byte)_graph.Semantics.Rounding, (byte)_graph.Semantics.Requantization,
            (byte)_graph.Semantics.AccumulatorBits, arena, [.. _tensors.Select(t => t!)], _commands, _weights.ToArray());
    }

    private void LowerNode(Operation node)
    {
        var name = node.Name.Length > 0 ? node.Name : node.OpType;
        switch (node.OpType)
        {
            case "Conv":
            {
                var x = In(node, 0);
                var w = node.Input(1);
                var kernel = w?.Shape ?? [];
                if (w?.IntegerData is null || kernel.Length != 4) { Problem("Conv needs a constant 4-D quantized weight", name); return; }
                if (node.String("auto_pad", "NOTSET") != "NOTSET") { Problem("Conv auto_pad is not supported; give explicit pads", name); return; }
                var y = Out(node);
                if (x < 0 || y < 0) return;
                var pads = node.Ints("pads", 0, 0, 0, 0);
                var strides = node.Ints("strides", 1, 1);
                var dil = node.Ints("dilations", 1, 1);
                var groups = (int)node.Int("group", 1);
                var wOff = Weights(node, w, rows: (int)kernel[0], rowsFirst: true);
                var bias = Bias(node, (int)kernel[0]);
                var req = ProductRequant(node, w, (int)kernel[0]);
                if (wOff < 0) return;
                Emit(Opcode.Conv, [x], y, [x, y, groups, (int)kernel[2], (int)kernel[3], (int)strides[0], (int)strides[1],
                    (int)dil[0], (int)dil[1], (int)pads[0], (int)pads[1], wOff, w.Quant!.Bits, bias, req]);
                return;
            }
            case "Gemm" or "MatMul":
            {
                var x = In(node, 0);
                var w = node.Input(1);
                if (w?.IntegerData is null || w.Shape.Length != 2) { Problem($"{node.OpType} needs a constant 2-D quantized weight", name); return; }
                if (node.OpType == "Gemm" && (node.Int("transA", 0) != 0 || node.Float("alpha", 1) != 1 || node.Float("beta", 1) != 1))
                { Problem("Gemm with transA, alpha or beta is not supported", name); return; }
                var y = Out(node);
                if (x < 0 || y < 0) return;
                var rowsFirst = node.OpType == "Gemm" && node.Int("transB", 0) != 0;
                var n = (int)(rowsFirst ? w.Shape[0] : w.Shape[1]);
                var wOff = Weights(node, w, n, rowsFirst);
                var bias = Bias(node, n);
                var req = ProductRequant(node, w, n);
                if (wOff < 0) return;
                Emit(Opcode.Dense, [x], y, [x, y, wOff, w.Quant!.Bits, bias, req]);
                return;
            }
            case "Relu" or "Clip":
            {
                var x = In(node, 0);
                var y = Out(node);
                if (x < 0 || y < 0) return;
                var xt = _tensors[x]!;
                int lo = xt.QMin, hi = xt.QMax;
                if (node.OpType == "Relu") lo = xt.ZeroPoint;
                else
                {
                    float? Bound(int i, string attr) => node.Input(i)?.FloatData is { Length: > 0 } d ? d[0]
                        : node.Attributes.ContainsKey(attr) ? node.Float(attr, 0) : null;
                    if (Bound(1, "min") is { } min) lo = (int)IntegerSemantics.QuantizeFloat(min, xt.Scale, xt.ZeroPoint, xt.QMin, xt.QMax, _graph.Semantics.Rounding);
                    if (Bound(2, "max") is { } max) hi = (int)IntegerSemantics.QuantizeFloat(max, xt.Scale, xt.ZeroPoint, xt.QMin, xt.QMax, _graph.Semantics.Rounding);
                }
                Emit(Opcode.Clamp, [x], y, [x, y, lo, hi, Rescale(x, y)]);
                return;
            }
            case "MaxPool":
            {
                var x = In(node, 0);
                var k = node.Ints("kernel_shape");
                if (k is not { Length: 2 } || node.String("auto_pad", "NOTSET") != "NOTSET" || node.Int("ceil_mode", 0) != 0
                    || (node.Ints("dilations") is { } d && d.Any(v => v != 1)))
                { Problem("MaxPool needs a 2-D kernel, explicit pads, no ceil_mode or dilation", name); return; }
                var y = Out(node);
                if (x < 0 || y < 0) return;
                var strides = node.Ints("strides", 1, 1);
                var pads = node.Ints("pads", 0, 0, 0, 0);
                Emit(Opcode.MaxPool, [x], y, [x, y, (int)k.Value[0], (int)k.Value[1], (int)strides[0], (int)strides[1], (int)pads[0], (int)pads[1], Rescale(x, y)]);
                return;
            }
            case "GlobalAveragePool":
            {
                var x = In(node, 0);
                var y = Out(node);
                if (x < 0 || y < 0) return;
                var xt = _tensors[x]!;
                var count = xt.Dims.Skip(2).Aggregate(1, (a, v) => a * v);
                Emit(Opcode.GlobalAveragePool, [x], y, [x, y, Requant(IntegerSemantics.AverageMultiplier(xt.Scale, _tensors[y]!.Scale, count), name)]);
                return;
            }
            case "Add":
            {
                var a = In(node, 0);
                var b = In(node, 1);
                var y = Out(node);
                if (a < 0 || b < 0 || y < 0) return;
                if (!_tensors[a]!.Dims.SequenceEqual(_tensors[b]!.Dims)) { Problem("Add needs inputs of one shape (no broadcasting)", name); return; }
                var sy = _tensors[y]!.Scale;
                Emit(Opcode.Add, [a, b], y, [a, b, y,
                    Requant(IntegerSemantics.RatioMultiplier(_tensors[a]!.Scale, sy), name), Requant(IntegerSemantics.RatioMultiplier(_tensors[b]!.Scale, sy), name)]);
                return;
            }
            case "Flatten" or "Reshape" or "Identity" or "Dropout" or "Squeeze" or "Unsqueeze":
            {
                var x = In(node, 0);
                var y = Out(node);
                if (x < 0 || y < 0) return;
                Emit(Opcode.Copy, [x], y, [x, y, Rescale(x, y)]);
                return;
            }
            default:
                Problem($"op {node.OpType} is not in the Acme NPU-1 operator set", name);
                return;
        }
    }

    // ---- tensors --------------------------------------------------------------------------------------------------

    private int In(Operation node, int i)
    {
        var v = node.Input(i);
        if (v is null) { Problem($"input {i} is missing", node.Name); return -1; }
        if (_tensorIds.TryGetValue(v.Name, out var id)) return id;
        if (v.IsConstant) { Problem($"constant activation '{v.Name}' is not supported", node.Name); return -1; }
        Problem($"value '{v.Name}' is not computed on the NPU", node.Name);
        return -1;
    }

    private int Out(Operation node) => Activation(node.Outputs[0], node.Name);

    private int Activation(TensorValue v, string? node)
    {
        if (v.Quant is not { PerChannel: false } q || q.Bits > 8)
        { Problem($"value '{v.Name}' must be quantized per tensor to at most 8 bits", node); return -1; }
        if (v.Shape.Length is 0 or > 4) { Problem($"value '{v.Name}' has rank {v.Shape.Length}; the NPU handles 1 to 4", node); return -1; }
        var id = _tensors.Count;
        _tensors.Add(new StreamTensor(0, [.. v.Shape.Select(d => checked((int)d))], q.Bits, q.Signed, q.Scale(), (int)q.ZeroPoint()));
        _tensorIds[v.Name] = id;
        _sizes.Add((id, _tensors[id]!.Count));
        return id;
    }

    private void Emit(Opcode op, int[] reads, int writes, int[] fields)
    {
        // Time runs in half steps: a command reads at 2s and writes at 2s + 1. Elementwise commands read each element
        // before writing it, so a tensor they read for the last time may share bytes with what they write (in place);
        // other commands keep their inputs alive through the write.
        var step = _commands.Count;
        _commands.Add(new StreamCommand(op, fields));
        var readEnd = op is Opcode.Clamp or Opcode.Copy or Opcode.Add ? 2 * step : 2 * step + 1;
        foreach (var r in reads) _life[r] = (_life.TryGetValue(r, out var l) ? l.First : 2 * step, Math.Max(readEnd, _life.GetValueOrDefault(r).Last));
        if (writes >= 0) _life[writes] = (2 * step + 1, Math.Max(2 * step + 1, _life.GetValueOrDefault(writes).Last));
    }

    /// <summary>
    /// Static memory plan: each tensor occupies [offset, offset + size) from the command that writes it to the last that
    /// reads it; first fit in order of definition reuses the space of tensors that are dead.
    /// </summary>
    private int PlanMemory()
    {
        var placed = new List<(int Offset, int Size, int First, int Last)>();
        var arena = 0;
        foreach (var (id, size) in _sizes)
        {
            var (first, last) = _life.GetValueOrDefault(id, (0, 0));
            var offset = 0;
            foreach (var p in placed.Where(p => p.First <= last && first <= p.Last).OrderBy(p => p.Offset))
            {
                if (offset + size <= p.Offset) break;
                offset = Math.Max(offset, Align(p.Offset + p.Size));
            }
            placed.Add((offset, size, first, last));
            arena = Math.Max(arena, offset + size);
            _tensors[id] = _tensors[id]! with { Offset = offset };
        }
        return Align(arena);
    }

    private static int Align(int v) => (v + 3) & ~3;

    // ---- constants ------------------------------------------------------------------------------------------------

    /// <summary>Weights as [rows][columns] signed integers packed at their bit width, low bits first; returns the offset.</summary>
    private int Weights(Operation node, TensorValue w, int rows, bool rowsFirst)
    {
        var q = w.Quant!;
        if (q.Bits is not (8 or 4 or 2) || !q.Signed || q.ZeroPoints.Any(z => z != 0))
        { Problem($"weights must be signed and symmetric at 8, 4 or 2 bits (got {q})", node.Name); return -1; }
        var data = w.IntegerData!.Value;
        var cols = data.Length / rows;
        var values = new long[data.Length];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < cols; c++)
                values[r * cols + c] = rowsFirst ? data[r * cols + c] : data[c * rows + r];
        var offset = AlignWeights();
        var perByte = 8 / q.Bits;
        var packed = new byte[(values.Length + perByte - 1) / perByte];
        var mask = (1 << q.Bits) - 1;
        for (var i = 0; i < values.Length; i++) packed[i / perByte] |= (byte)(((int)values[i] & mask) << (i % perByte * q.Bits));
        _weights.Write(packed);
        return offset;
    }

    private int Bias(Operation node, int channels)
    {
        var offset = AlignWeights();
        var bias = node.Input(2)?.IntegerData;
        Span<byte> b = stackalloc byte[4];
        for (var c = 0; c < channels; c++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(b, bias is { } v ? checked((int)v[c]) : 0);
            _weights.Write(b);
        }
        return offset;
    }

    /// <summary>Per-channel multipliers f32(f32(sx * sw[c]) / sy) of a Conv/Dense.</summary>
    private int ProductRequant(Operation node, TensorValue w, int channels)
    {
        var sx = node.Input(0)!.Quant?.Scale() ?? 1;
        var sy = node.Outputs[0].Quant?.Scale() ?? 1;
        var first = -1;
        for (var c = 0; c < channels; c++)
        {
            var r = Requant(IntegerSemantics.ProductMultiplier(sx, w.Quant!.Scale(w.Quant.PerChannel ? c : 0), sy), node.Name);
            if (first < 0) first = r;
        }
        return first;
    }

    /// <summary>The identity (-1) when input and output read the same, else the rescale by f32(sx / sy).</summary>
    private int Rescale(int x, int y)
    {
        var (a, b) = (_tensors[x]!, _tensors[y]!);
        if (a.Bits == b.Bits && a.Signed == b.Signed && a.Scale == b.Scale && a.ZeroPoint == b.ZeroPoint) return -1;
        return Requant(IntegerSemantics.RatioMultiplier(a.Scale, b.Scale), null);
    }

    /// <summary>A requantization record (f32 multiplier, integer multiplier, shift); returns its offset.</summary>
    private int Requant(float m, string? node)
    {
        var offset = AlignWeights();
        var fixedM = new FixedMultiplier(0, 0);
        if (_graph.Semantics.Requantization == RequantizationMode.MultiplierShift)
        {
            try { fixedM = FixedMultiplier.From(m); }
            catch (ArgumentOutOfRangeException) { Problem($"multiplier {m} cannot be written as a 31-bit multiplier and right shift", node); }
            if (fixedM.Multiplier > int.MaxValue) Problem($"multiplier {m} needs more than 31 bits", node);
        }
        Span<byte> b = stackalloc byte[CommandStream.RequantRecordBytes];
        System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(b, m);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(b[4..], (int)fixedM.Multiplier);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(b[8..], fixedM.Shift);
        _weights.Write(b);
        return offset;
    }

    private int AlignWeights()
    {
        while (_weights.Length % 4 != 0) _weights.WriteByte(0);
        return (int)_weights.Length;
    }

    private void Problem(string message, string? node = null) => _problems.Add(BackendDiagnostic.Error(message, node));
}
