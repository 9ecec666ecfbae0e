namespace ArchNet.IR;

/// <summary>
/// Gives symbolic input dimensions concrete sizes, then infers shapes again. Chips run static shapes, most exact rewrites
/// need them (weights built from H and W, channel offsets), and MACs and shape limits can only be judged with them:
/// auditing a model "at batch 1, sequence 128" is what a deployment engineer means anyway. Sizes come by input name
/// (<see cref="Fix"/>, convert's --input-shape), by symbol (<see cref="Bind"/>, --dim), or for what is still symbolic
/// from the caller (<see cref="BindRemaining"/>: the compile's calibration data).
/// </summary>
public static class InputShapes
{
    /// <summary>Gives each input named in <paramref name="sizes"/> its full shape (its static dims must agree), and
    /// every other symbolic dimension 1. Returns the dimensions other than the items' axis that became 1, for the caller
    /// to say so (a sequence or an image size at 1 is rarely what was meant).</summary>
    public static IReadOnlyList<Binding> Fix(Model model, IReadOnlyDictionary<string, long[]>? sizes = null)
    {
        var inputs = model.Graph.Inputs.Where(i => !i.IsConstant).ToList();
        if (sizes?.Keys.FirstOrDefault(k => !inputs.Any(i => i.Name == k)) is { } unknown)
            throw new ArchNetException($"the model has no input named '{unknown}' (inputs: {string.Join(", ", inputs.Select(i => i.Name))})")
                { Setting = Setting.InputShape, SettingValue = unknown };
        var changed = false;
        foreach (var input in inputs)
        {
            if (sizes?.GetValueOrDefault(input.Name) is not { } given || input.TensorType is not { Shape: { } s } t) continue;
            if (given.Length != s.Rank)
                throw new ArchNetException($"input '{input.Name}' has rank {s.Rank}, but the given shape [{string.Join(",", given)}] has {given.Length} dims");
            for (var i = 0; i < s.Rank; i++)
                if (s[i].Value is { } known && known != given[i])
                    throw new ArchNetException($"input '{input.Name}' dim {i} is {known}, the given shape says {given[i]}");
            if (s.IsStatic) continue;
            input.Type = t with { Shape = Shape.Of(given) };
            changed = true;
        }
        return Complete(model, (_, _) => 1, changed);
    }

    /// <summary>Replaces each symbolic dimension of the graph's inputs named in <paramref name="sizes"/> (the key "*"
    /// covers every other symbol and unknown dimension), then reruns shape inference. Returns the symbols bound.
    /// A name that no input dimension carries is an error (a typo would otherwise leave the dimension unbound).</summary>
    public static IReadOnlyList<string> Bind(Model model, IReadOnlyDictionary<string, long> sizes)
    {
        var symbolic = model.Graph.Inputs.Where(i => !i.IsConstant && i.TensorType is { Shape.IsStatic: false }).ToList();
        var symbols = new SortedSet<string>(symbolic.SelectMany(i => i.Shape!.Dims).Where(d => !d.IsKnown && d.Symbol is not null)
            .Select(d => d.Symbol!), StringComparer.Ordinal);
        var unknown = sizes.Keys.Where(k => k != "*" && !symbols.Contains(k)).Order(StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
            throw new ArchNetException($"no input dimension of the model is named '{unknown[0]}' " +
                (symbols.Count == 0 ? "(its inputs have no symbolic dimensions)" : $"(symbolic dimensions: {string.Join(", ", symbols)})"))
                { Setting = Setting.DimensionSize, SettingValue = unknown[0] };
        var bound = new SortedSet<string>(StringComparer.Ordinal);
        var fallback = sizes.TryGetValue("*", out var f) ? f : (long?)null;
        foreach (var input in symbolic)
        {
            var (t, shape) = (input.TensorType!, input.Shape!);
            input.Type = t with
            {
                Shape = new Shape(shape.Dims.Select(d =>
                {
                    if (d.IsKnown) return d;
                    if (d.Symbol is { } s && sizes.TryGetValue(s, out var v)) { bound.Add(s); return Dim.Of(v); }
                    if (fallback is { } any) { bound.Add(d.Symbol ?? "?"); return Dim.Of(any); }
                    return d;
                })),
            };
        }
        if (bound.Count > 0) Reinfer(model);
        return [.. bound];
    }

    /// <summary>A dimension bound by <see cref="BindRemaining"/>: input, axis, its symbol (null: unnamed) and size.</summary>
    public readonly record struct Binding(string Input, int Axis, string? Symbol, long Size);

    /// <summary>
    /// Binds every dimension of the graph's inputs that is still symbolic: axis 0, the items' axis (chips run one item
    /// at a time), to 1; any other axis to <paramref name="sizeOf"/>(input, axis), which may refuse by throwing. One
    /// symbol gets one size in every input that carries it. Reruns shape inference; returns the non-item dimensions bound.
    /// </summary>
    public static IReadOnlyList<Binding> BindRemaining(Model model, Func<Value, int, long> sizeOf) => Complete(model, sizeOf, false);

    /// <summary><see cref="BindRemaining"/>, reinferring shapes also when the caller already changed an input.</summary>
    private static List<Binding> Complete(Model model, Func<Value, int, long> sizeOf, bool changed)
    {
        var bindings = new List<Binding>();
        var bySymbol = new Dictionary<string, Binding>(StringComparer.Ordinal);
        foreach (var input in model.Graph.Inputs)
        {
            if (input.IsConstant || input.TensorType is not { Shape: { } shape } t || shape.IsStatic) continue;
            var dims = shape.Dims.Select((d, axis) =>
            {
                if (d.IsKnown) return d;
                if (axis == 0) return Dim.Of(1);
                var size = sizeOf(input, axis);
                var binding = new Binding(input.Name, axis, d.Symbol, size);
                if (d.Symbol is { } s)
                {
                    if (bySymbol.TryGetValue(s, out var first) && first.Size != size)
                        throw new ArchNetException($"symbolic dimension '{s}' would be {first.Size} in input '{first.Input}' (axis " +
                            $"{first.Axis}) but {size} in input '{input.Name}' (axis {axis}); its size must be given")
                            { Setting = Setting.DimensionSize, SettingValue = $"{s}=SIZE" };
                    if (!bySymbol.TryAdd(s, binding)) return Dim.Of(size);
                }
                bindings.Add(binding);
                return Dim.Of(size);
            }).ToList();
            input.Type = t with { Shape = new Shape(dims) };
            changed = true;
        }
        if (changed) Reinfer(model);
        return bindings;
    }

    /// <summary>Types inferred from the old symbolic shapes are stale: recompute from the inputs down.</summary>
    private static void Reinfer(Model model)
    {
        foreach (var g in model.Graph.SelfAndSubgraphs())
            foreach (var n in g.Nodes)
                foreach (var o in n.Outputs)
                    if (o.TensorType is { Shape: { IsStatic: false } } ot) o.Type = ot with { Shape = null };
        ShapeInference.Run(model.Graph);
    }
}
