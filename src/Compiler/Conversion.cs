using ArchNet.Capabilities;
using ArchNet.IR;
using ArchNet.Passes;
using ArchNet.Passes.Canonicalization;
using ArchNet.Passes.Legalization;

namespace ArchNet.Compiler;

/// <summary>What <see cref="Conversion.Legalize"/> did: each pass's changes, each rewrite, and what is left for retraining.</summary>
public sealed record ConversionResult(IReadOnlyList<PassResult> Passes, IReadOnlyList<RewriteRecord> Rewrites, LegalizationReport Legalization);

/// <summary>Input dimensions other than the items' axis that no size was given for: fixed at 1, the written model would
/// accept only that size (an image model only 1x1 images), so conversion refuses and names them.</summary>
public sealed class UnsetDimensionsException(IReadOnlyList<InputShapes.Binding> unset)
    : ArchNetException($"static shapes are needed, and no size is given for {string.Join(", ", unset.Select(b => b.Symbol ?? $"'{b.Input}' axis {b.Axis}"))}")
{
    public IReadOnlyList<InputShapes.Binding> Unset { get; } = unset;
}

/// <summary>
/// <c>archnetc convert --target</c> as a library call: canonicalization and the exact rewrites only (no data, no
/// quantization), through the pass manager, so the IR can be dumped after any pass.
/// </summary>
public static class Conversion
{
    /// <param name="sizes">Sizes of symbolic dimensions by name.</param>
    /// <param name="shapes">Whole static shapes of inputs by name.</param>
    /// <param name="dumpAfter">Pass names after which <paramref name="dump"/> receives the IR as text ("all": every pass).</param>
    public static ConversionResult Legalize(Model model, Capability capability, IReadOnlyDictionary<string, long> sizes,
        IReadOnlyDictionary<string, long[]> shapes, IEnumerable<string> dumpAfter, Action<string, string>? dump, IDiagnostics diagnostics)
    {
        InputShapes.Bind(model, sizes);
        // The items' axis becomes 1 silently; any other dimension left unset is refused (UnsetDimensionsException).
        var ones = InputShapes.Fix(model, shapes);
        if (ones.Count > 0) throw new UnsetDimensionsException(ones);
        var legalize = new LegalizePass(capability);
        var manager = new PassManager([.. Canonicalize.Passes(), legalize, new DeadCodeElimination()]) { DumpAfter = dump };
        foreach (var p in dumpAfter) manager.DumpAfterPasses.Add(p);
        var context = new PassContext(diagnostics);
        var results = manager.Run(model, context);
        return new ConversionResult(results, context.Rewrites, legalize.Report!);
    }
}
