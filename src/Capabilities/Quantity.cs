using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;
using ArchNet.IR;

namespace ArchNet.Capabilities;

/// <summary>What a quantity evaluates to on one node: numbers, a string, or unknown with the reason.</summary>
public sealed record QuantityValue(ImmutableArray<double> Numbers, string? Text, string? UnknownReason)
{
    public bool IsKnown => UnknownReason is null;
    public static QuantityValue Of(params double[] numbers) => new([.. numbers], null, null);
    public static QuantityValue OfText(string text) => new([], text, null);
    public static QuantityValue Unknown(string reason) => new([], null, reason);

    public override string ToString() =>
        UnknownReason is not null ? "unknown (" + UnknownReason + ")"
        : Text is not null ? "\"" + Text + "\""
        : Numbers.Length == 1 ? Format(Numbers[0])
        : "[" + string.Join(",", Numbers.Select(Format)) + "]";

    public static string Format(double v) => v.ToString("G15", CultureInfo.InvariantCulture);
}

/// <summary>Which tensor of a node a constraint looks at: one input, one output, all inputs, all outputs.</summary>
public sealed record TensorRef(bool IsInput, int? Index)
{
    public static TensorRef? TryParse(string text)
    {
        if (text is "inputs") return new(true, null);
        if (text is "outputs") return new(false, null);
        var m = Regex.Match(text, @"^(input|output)\[(\d+)\]$", RegexOptions.CultureInvariant);
        return m.Success ? new(m.Groups[1].Value == "input", int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)) : null;
    }

    /// <summary>The (name, value) pairs this reference selects on <paramref name="node"/>; absent optional tensors are skipped.</summary>
    public IEnumerable<(string Name, Value Value)> Select(Node node)
    {
        var list = IsInput ? node.Inputs : node.Outputs.Cast<Value?>().ToList();
        var side = IsInput ? "input" : "output";
        if (Index is { } i)
        {
            if (i < list.Count && list[i] is { IsAbsent: false } v) yield return ($"{side}[{i}]", v);
            yield break;
        }
        for (var k = 0; k < list.Count; k++)
            if (list[k] is { IsAbsent: false } v) yield return ($"{side}[{k}]", v);
    }

    public override string ToString() => (IsInput ? "input" : "output") + (Index is { } i ? $"[{i}]" : "s");
}

/// <summary>
/// A named number (or list, or string) read off a node, written in capability files as text:
/// an attribute (<c>strides</c>, <c>kernel_shape[0]</c>, with ONNX defaults when absent), a tensor dimension
/// (<c>input[0].dim[1]</c>, negative counts from the end), a rank (<c>input[0].rank</c>), a constant input's contents
/// (<c>input[3].value</c>), the dilated kernel (<c>dilated_kernel_shape</c>), or <c>product(...)</c> of any of these.
/// </summary>
public abstract record Quantity
{
    public abstract QuantityValue Evaluate(Node node);
    public abstract override string ToString();

    private static readonly Regex DimPattern = new(@"^(input|output)\[(\d+)\]\.dim\[(-?\d+)\]$", RegexOptions.CultureInvariant);
    private static readonly Regex RankPattern = new(@"^(input|output)\[(\d+)\]\.rank$", RegexOptions.CultureInvariant);
    private static readonly Regex ValuePattern = new(@"^input\[(\d+)\]\.value$", RegexOptions.CultureInvariant);
    private static readonly Regex AttrPattern = new(@"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$", RegexOptions.CultureInvariant);
    private static readonly Regex ProductPattern = new(@"^product\((.+)\)$", RegexOptions.CultureInvariant);

    /// <summary>Parses the text form; null when it is none of the accepted spellings.</summary>
    public static Quantity? TryParse(string text)
    {
        text = text.Trim();
        if (ProductPattern.Match(text) is { Success: true } p)
            return TryParse(p.Groups[1].Value) is { } inner ? new ProductQuantity(inner) : null;
        if (TryParseDim(text) is { } dim) return dim;
        if (RankPattern.Match(text) is { Success: true } r)
            return new RankQuantity(new TensorRef(r.Groups[1].Value == "input", Int(r.Groups[2].Value)));
        if (ValuePattern.Match(text) is { Success: true } v) return new ConstantInputQuantity(Int(v.Groups[1].Value));
        if (AttrPattern.Match(text) is { Success: true } a)
            return new AttributeQuantity(a.Groups[1].Value, a.Groups[2].Success ? Int(a.Groups[2].Value) : null);
        return null;
    }

    public static DimQuantity? TryParseDim(string text)
    {
        var m = DimPattern.Match(text.Trim());
        return m.Success ? new DimQuantity(new TensorRef(m.Groups[1].Value == "input", Int(m.Groups[2].Value)), Int(m.Groups[3].Value)) : null;
    }

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

    /// <summary>The tensor's type, or why it is not known.</summary>
    internal static (TensorType? Type, string? Why) TensorOf(Node node, TensorRef tensor)
    {
        var selected = tensor.Select(node).FirstOrDefault();
        if (selected.Value is null) return (null, $"{tensor} absent");
        return selected.Value.TensorType is { } t ? (t, null) : (null, $"{tensor} is not a typed tensor");
    }
}

public sealed record DimQuantity(TensorRef Tensor, int Axis) : Quantity
{
    /// <summary>False when the tensor's shape is known and has no such axis (a rank-2 tensor has no dim[-4]).</summary>
    public bool Exists(Node node)
    {
        var (type, _) = TensorOf(node, Tensor);
        if (type?.Shape is not { } shape) return true;
        var axis = Axis < 0 ? Axis + shape.Rank : Axis;
        return axis >= 0 && axis < shape.Rank;
    }

    public override QuantityValue Evaluate(Node node)
    {
        var (type, why) = TensorOf(node, Tensor);
        if (type is null) return QuantityValue.Unknown(why!);
        if (type.Shape is not { } shape) return QuantityValue.Unknown($"{Tensor} shape unknown");
        var axis = Axis < 0 ? Axis + shape.Rank : Axis;
        if (axis < 0 || axis >= shape.Rank) return QuantityValue.Unknown($"{Tensor} has rank {shape.Rank}");
        return shape[axis].Value is { } d ? QuantityValue.Of(d) : QuantityValue.Unknown($"{this} is symbolic ({shape[axis]})");
    }

    public override string ToString() => $"{Tensor}.dim[{Axis}]";
}

public sealed record RankQuantity(TensorRef Tensor) : Quantity
{
    public override QuantityValue Evaluate(Node node)
    {
        var (type, why) = TensorOf(node, Tensor);
        if (type is null) return QuantityValue.Unknown(why!);
        return type.Shape is { } s ? QuantityValue.Of(s.Rank) : QuantityValue.Unknown($"{Tensor} shape unknown");
    }

    public override string ToString() => $"{Tensor}.rank";
}

public sealed record ConstantInputQuantity(int Index) : Quantity
{
    public override QuantityValue Evaluate(Node node)
    {
        var v = node.Input(Index);
        if (v is null) return QuantityValue.Unknown($"input[{Index}] absent");
        var data = v.Constant ?? (v.Producer is { OpType: "Constant" } c && c.Attr("value") is { Kind: AttributeKind.Tensor } a ? a.AsTensor() : null);
        if (data is null) return QuantityValue.Unknown($"input[{Index}] is not constant");
        if (data.ElementCount > 4096) return QuantityValue.Unknown($"input[{Index}] is too large to inspect");
        return new QuantityValue([.. data.ToDoubles()], null, null);
    }

    public override string ToString() => $"input[{Index}].value";
}

public sealed record ProductQuantity(Quantity Inner) : Quantity
{
    public override QuantityValue Evaluate(Node node)
    {
        var v = Inner.Evaluate(node);
        if (!v.IsKnown || v.Text is not null) return v;
        return QuantityValue.Of(v.Numbers.Aggregate(1.0, (a, b) => a * b));
    }

    public override string ToString() => $"product({Inner})";
}

/// <summary>An attribute, with the ONNX default when the node omits it, and the derived <c>kernel_shape</c>
/// (from the weight's shape for Conv) and <c>dilated_kernel_shape</c> ((k - 1) * d + 1 per axis).</summary>
public sealed record AttributeQuantity(string Name, int? Element) : Quantity
{
    public override QuantityValue Evaluate(Node node)
    {
        var whole = Name == "dilated_kernel_shape" ? DilatedKernel(node) : Read(node, Name);
        if (Element is not { } i || !whole.IsKnown || whole.Text is not null) return whole;
        return i < whole.Numbers.Length ? QuantityValue.Of(whole.Numbers[i]) : QuantityValue.Unknown($"{Name} has {whole.Numbers.Length} elements");
    }

    public override string ToString() => Element is { } i ? $"{Name}[{i}]" : Name;

    private static QuantityValue DilatedKernel(Node node)
    {
        var k = Read(node, "kernel_shape");
        var d = Read(node, "dilations");
        if (!k.IsKnown) return k;
        if (!d.IsKnown) return d;
        return new QuantityValue([.. k.Numbers.Select((kk, i) => (kk - 1) * (i < d.Numbers.Length ? d.Numbers[i] : 1) + 1)], null, null);
    }

    internal static QuantityValue Read(Node node, string name)
    {
        if (node.Attr(name) is { } a)
        {
            return a.Kind switch
            {
                AttributeKind.Int => QuantityValue.Of(a.AsInt()),
                AttributeKind.Float => QuantityValue.Of(a.AsFloat()),
                AttributeKind.Ints => new QuantityValue([.. a.AsInts().Select(x => (double)x)], null, null),
                AttributeKind.Floats => new QuantityValue([.. a.AsFloats().Select(x => (double)x)], null, null),
                AttributeKind.String => QuantityValue.OfText(a.AsString()),
                _ => QuantityValue.Unknown($"attribute {name} is {a.Kind}"),
            };
        }
        return Default(node, name);
    }

    private static bool IsWindowOp(Node n) => n.OpType is "Conv" or "ConvInteger" or "ConvTranspose" or "QLinearConv"
        or "MaxPool" or "AveragePool" or "LpPool";

    /// <summary>ONNX's documented defaults for the attributes constraints usually name.</summary>
    private static QuantityValue Default(Node node, string name)
    {
        var spatial = node.Input(0)?.Shape is { } s ? s.Rank - 2 : (int?)null;
        QuantityValue Repeat(double v, int times) => new([.. Enumerable.Repeat(v, times)], null, null);
        switch (name)
        {
            case "kernel_shape" when node.OpType is "Conv" or "ConvInteger" or "ConvTranspose" or "QLinearConv":
                var wIndex = node.OpType == "QLinearConv" ? 3 : 1;
                if (node.Input(wIndex)?.Shape is { } ws && ws.Rank > 2 && ws.Dims.Skip(2).All(d => d.IsKnown))
                    return new QuantityValue([.. ws.Dims.Skip(2).Select(d => (double)d.Value!.Value)], null, null);
                return QuantityValue.Unknown("kernel_shape absent and weight shape unknown");
            case "strides" or "dilations" when IsWindowOp(node):
                return spatial is { } sp and > 0 ? Repeat(1, sp) : QuantityValue.Unknown($"{name} absent and input rank unknown");
            case "pads" when IsWindowOp(node):
                return EffectivePads(node, spatial);
            case "group" when IsWindowOp(node): return QuantityValue.Of(1);
            case "ceil_mode" or "count_include_pad" or "storage_order": return QuantityValue.Of(0);
            case "auto_pad": return QuantityValue.OfText("NOTSET");
            case "transA" or "transB": return QuantityValue.Of(0);
            case "alpha" when node.OpType == "Gemm": return QuantityValue.Of(1);
            case "beta" when node.OpType == "Gemm": return QuantityValue.Of(1);
            case "alpha" when node.OpType == "LeakyRelu": return QuantityValue.Of(0.01);
            case "axis" when node.OpType is "Softmax" or "LogSoftmax" or "Hardmax": return QuantityValue.Of(-1);
            case "axis" when node.OpType is "Flatten": return QuantityValue.Of(1);
            case "axis" when node.OpType is "Gather" or "Split": return QuantityValue.Of(0);
            case "mode" when node.OpType is "Resize" or "Upsample": return QuantityValue.OfText("nearest");
            case "mode" when node.OpType is "Pad": return QuantityValue.OfText("constant");
            case "keepdims": return QuantityValue.Of(1);
            case "direction" when node.OpType is "LSTM" or "GRU" or "RNN": return QuantityValue.OfText("forward");
            case "p" when node.OpType is "LpNormalization" or "LpPool" or "GlobalLpPool": return QuantityValue.Of(2);
            default: return QuantityValue.Unknown($"attribute {name} absent");
        }
    }

    /// <summary>Explicit pads, or the pads SAME_UPPER/SAME_LOWER/VALID imply when shapes are known.</summary>
    private static QuantityValue EffectivePads(Node node, int? spatial)
    {
        if (spatial is not { } sp || sp <= 0) return QuantityValue.Unknown("pads absent and input rank unknown");
        var autoPad = node.GetString("auto_pad", "NOTSET");
        if (autoPad is "NOTSET" or "VALID") return new QuantityValue([.. Enumerable.Repeat(0.0, 2 * sp)], null, null);
        var kernel = Read(node, "kernel_shape");
        var strides = Read(node, "strides");
        var dilations = Read(node, "dilations");
        if (!kernel.IsKnown || !strides.IsKnown || !dilations.IsKnown || node.Input(0)?.Shape is not { } xs)
            return QuantityValue.Unknown("pads implied by auto_pad need known shapes");
        var pads = new double[2 * sp];
        for (var i = 0; i < sp; i++)
        {
            if (xs[2 + i].Value is not { } input) return QuantityValue.Unknown("pads implied by auto_pad need known shapes");
            var stride = strides.Numbers[i];
            var outSize = Math.Ceiling(input / stride);
            var total = Math.Max(0, (outSize - 1) * stride + (kernel.Numbers[i] - 1) * dilations.Numbers[i] + 1 - input);
            var small = Math.Floor(total / 2);
            (pads[i], pads[i + sp]) = autoPad == "SAME_UPPER" ? (small, total - small) : (total - small, small);
        }
        return new QuantityValue([.. pads], null, null);
    }
}
