using ArchNet.Capabilities;
using ArchNet.IR;
using ArchNet.Passes;
using ArchNet.Passes.Canonicalization;
using ArchNet.Passes.Legalization;

namespace ArchNet.Compiler;

/// <summary>What <see cref="Conversion.Legalize"/> did: the sizes it had to take as 1, each pass's changes, each rewrite,
/// and what is left for retraining.</summary>
public sealed record ConversionResult(
    IReadOnlyList<InputShapes.Binding> SetToOne, IReadOnlyList<PassResult> Passes, IReadOnlyList<RewriteRecord> Rewrites,
    LegalizationReport Legalization);

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
        var ones = InputShapes.Fix(model, shapes);
        var legalize = new LegalizePass(capability);
        var manager = new PassManager([.. Canonicalize.Passes(), legalize, new DeadCodeElimination()]) { DumpAfter = dump };
        foreach (var p in dumpAfter) manager.DumpAfterPasses.Add(p);
        var context = new PassContext(diagnostics);
        var results = manager.Run(model, context);
        return new ConversionResult(ones, results, context.Rewrites, legalize.Report!);
    }
}
