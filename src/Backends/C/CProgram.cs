using System.Globalization;
using System.Text;
using ArchNet.Backends.Abstractions;

namespace ArchNet.Backends.C;

/// <summary>
/// Lowers a quantized graph to one C99 translation unit: weights as const arrays, one function per node with its
/// shapes, zero points and multipliers as literals, and a static memory plan over one arena. Validation runs this same
/// lowering and keeps its problems, so the check and the code generator cannot disagree.
/// </summary>
internal sealed partial class CProgram
{
    private const int Tile = 32; // output pixels per im2col tile of a convolution

    private readonly QuantizedGraph _graph;
    private readonly string _prefix;
    private readonly List<BackendDiagnostic> _problems = [];
    private readonly StringBuilder _constants = new();
    private readonly List<Func<string>> _nodes = [];
    private readonly Dictionary<string, Slot> _slots = new(StringComparer.Ordinal);
    private readonly List<Slot> _allSlots = [];
    private readonly Dictionary<string, string> _constantArrays = new(StringComparer.Ordinal);
    private int _step;
    private int _maxK16, _maxK32, _maxRow; // scratch sizes; 0: not needed

    private CProgram(QuantizedGraph graph, string prefix)
    {
        _graph = graph;
        _prefix = prefix;
    }

    public IReadOnlyList<BackendDiagnostic> Problems => _problems;

    /// <summary>A buffer in the arena; values that are views of another (same parameters) share its slot.</summary>
    private sealed class Slot(int bytes)
    {
        public int Bytes { get; } = bytes;
        public int First { get; set; } = int.MaxValue;
        public int Last { get; set; } = -1;
        public int Offset { get; set; }
    }

    /// <summary>How a value is read: an arena slot or a const array, its C type, its quantization, its shape.</summary>
    private sealed record Operand(string Name, QuantInfo Q, long[] Shape, string CType, Slot? Slot, string? Array)
    {
        public long Count => Shape.Aggregate(1L, (a, d) => a * d);
        public int Z => (int)Q.ZeroPoint();
        public int Lo => (int)Q.QMin;
        public int Hi => (int)Q.QMax;
    }

    public static CProgram Lower(QuantizedGraph graph, string prefix)
    {
        var p = new CProgram(graph, prefix);
        p.Run();
        return p;
    }

    private void Run()
    {
        if (_graph.Semantics.AccumulatorBits is < 8 or > 32)
            Problem($"accumulator width {_graph.Semantics.AccumulatorBits} is not supported (8 to 32 bits)");
        foreach (var input in _graph.Inputs)
        {
            if (input.Quant is not { PerChannel: false } q || q.Bits > 16) { Problem($"graph input '{input.Name}' must be quantized per tensor to at most 16 bits"); continue; }
            Define(input);
        }
        foreach (var node in _graph.Nodes)
        {
            _step++;
            try
            {
                LowerNode(node);
            }
            catch (NotSupportedException e)
            {
                Problem(e.Message, NodeName(node));
            }
        }
        _step++;
        foreach (var output in _graph.Outputs)
        {
            if (!_slots.TryGetValue(output.Name, out var slot)) { Problem($"graph output '{output.Name}' is not computed by an integer kernel"); continue; }
            slot.Last = int.MaxValue;
        }
    }

    private static string NodeName(Operation node) => node.Name.Length > 0 ? node.Name : node.OpType;

    private void Problem(string message, string? node = null) => _problems.Add(BackendDiagnostic.Error(message, node));

    // ---- operands ---------------------------------------------------------------------------------------------------

    private static string CType(QuantInfo q) => q.Bits switch
    {
        <= 8 => q.Signed ? "int8_t" : "uint8_t",
        <= 16 => q.Signed ? "int16_t" : "uint16_t",
        _ => "int32_t",
    };

    private static int ElementBytes(QuantInfo q) => q.Bits <= 8 ? 1 : q.Bits <= 16 ? 2 : 4;

    /// <summary>Gives a computed value its own slot, written at the current step.</summary>
    private Operand Define(TensorValue v)
    {
        var q = v.Quant is { PerChannel: false } qq && qq.Bits <= 16 ? qq
            : throw new NotSupportedException($"value '{v.Name}' must be quantized per tensor to at most 16 bits (it is {(v.Quant?.ToString() ?? "float")})");
        var slot = new Slot(checked((int)(v.ElementCount * ElementBytes(q)))) { First = 2 * _step + 1, Last = 2 * _step + 1 };
        _slots[v.Name] = slot;
        _allSlots.Add(slot);
        return new Operand(v.Name, q, [.. v.Shape], CType(q), slot, null);
    }

    /// <summary>A value that reads the same bytes as <paramref name="source"/> (a reshape with equal parameters).</summary>
    private Operand Alias(TensorValue v, Operand source)
    {
        _slots[v.Name] = source.Slot!;
        return source with { Name = v.Name, Shape = [.. v.Shape] };
    }

    /// <summary>An input operand, read at this step; <paramref name="inPlace"/>: read element by element before the write of the same element.</summary>
    private Operand Use(Operation node, int index, bool inPlace = false)
    {
        var v = node.Input(index) ?? throw new NotSupportedException($"{node.OpType} input {index} is missing");
        if (v.Quant is not { PerChannel: false } q || q.Bits > 16)
            throw new NotSupportedException($"{node.OpType} input '{v.Name}' must be quantized per tensor to at most 16 bits; the c backend has no float host ops");
        if (v.IsConstant)
        {
            if (!_constantArrays.TryGetValue(v.Name, out var array))
            {
                array = $"an_const{_constantArrays.Count}";
                _constantArrays[v.Name] = array;
                WriteArray(CType(q), array, v.IntegerData ?? throw new NotSupportedException($"constant '{v.Name}' has no integer data"));
            }
            return new Operand(v.Name, q, [.. v.Shape], CType(q), null, array);
        }
        if (!_slots.TryGetValue(v.Name, out var slot)) throw new NotSupportedException($"value '{v.Name}' is not computed by an integer kernel");
        slot.Last = Math.Max(slot.Last, inPlace ? 2 * _step : 2 * _step + 1);
        return new Operand(v.Name, q, [.. v.Shape], CType(q), slot, null);
    }

    /// <summary>C expression of an operand's element pointer (after the memory plan).</summary>
    private static string Ptr(Operand o, bool write = false) =>
        o.Array ?? $"(({(write ? "" : "const ")}{o.CType} *)(an_arena + {o.Slot!.Offset}))";

    private static bool SameParams(QuantInfo a, QuantInfo b) =>
        a.Bits == b.Bits && a.Signed == b.Signed && a.Scale() == b.Scale() && a.ZeroPoint() == b.ZeroPoint();

    // ---- literals and constant arrays -------------------------------------------------------------------------------

    private static string F(float v)
    {
        if (float.IsNaN(v) || float.IsInfinity(v)) throw new NotSupportedException($"multiplier {v} is not finite");
        var s = v.ToString("G9", CultureInfo.InvariantCulture);
        if (!s.Contains('.') && !s.Contains('E')) s += ".0";
        return s.Replace("E", "e") + "f";
    }

    private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string L(long v) => v == long.MinValue ? "INT64_MIN" : $"INT64_C({I(v)})";

    private void WriteArray<T>(string ctype, string name, IEnumerable<T> values)
    {
        _constants.Append("static const ").Append(ctype).Append(' ').Append(name).Append("[] = {");
        var i = 0;
        foreach (var v in values)
        {
            if (i++ % 24 == 0) _constants.Append("\n    ");
            _constants.Append(v switch
            {
                float f => F(f),
                IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
                _ => v!.ToString(),
            }).Append(',');
        }
        if (i == 0) _constants.Append('0');
        _constants.Append("\n};\n");
    }

    /// <summary>The requantization of output channels by float32 multipliers; returns a C expression builder.</summary>
    private Func<string, string, string> Requant(string name, IReadOnlyList<float> multipliers, Operand y)
    {
        var perChannel = multipliers.Count > 1;
        if (_graph.Semantics.Requantization == RequantizationMode.FloatScale)
        {
            if (perChannel) WriteArray("float", $"{name}_m", multipliers);
            return (acc, ch) => $"an_requant_f({acc}, {(perChannel ? $"{name}_m[{ch}]" : F(multipliers[0]))}, {y.Z}, {y.Lo}, {y.Hi})";
        }
        var fixedM = multipliers.Select(m => Fixed(m)).ToList();
        if (perChannel)
        {
            WriteArray("int32_t", $"{name}_mm", fixedM.Select(f => (int)f.Multiplier));
            WriteArray("int8_t", $"{name}_ms", fixedM.Select(f => (sbyte)f.Shift));
        }
        return (acc, ch) => perChannel
            ? $"an_requant_i({acc}, {name}_mm[{ch}], {name}_ms[{ch}], {y.Z}, {y.Lo}, {y.Hi})"
            : $"an_requant_i({acc}, {I(fixedM[0].Multiplier)}, {fixedM[0].Shift}, {y.Z}, {y.Lo}, {y.Hi})";
    }

    private static FixedMultiplier Fixed(float m)
    {
        FixedMultiplier f;
        try { f = FixedMultiplier.From(m); }
        catch (ArgumentOutOfRangeException) { throw new NotSupportedException($"multiplier {m} has no multiplier-and-shift form"); }
        if (f.Multiplier > int.MaxValue) throw new NotSupportedException($"multiplier {m} needs a multiplier wider than 31 bits");
        return f;
    }

    /// <summary>rescale(v): the identity for equal parameters, else requantization of v - zx by f32(sx / sy).</summary>
    private Func<string, string> Rescale(string name, Operand x, Operand y)
    {
        if (SameParams(x.Q, y.Q)) return v => $"({y.CType})({v})";
        var req = Requant(name, [IntegerSemantics.RatioMultiplier(x.Q.Scale(), y.Q.Scale())], y);
        return v => $"({y.CType}){req($"(int64_t)({v}) - {x.Z}", "0")}";
    }
}
