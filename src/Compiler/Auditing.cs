using ArchNet.Capabilities;
using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes.Canonicalization;

namespace ArchNet.Compiler;

/// <summary>
/// <c>archnetc audit</c> as a library call: the model as the file has it, judged against each chip with the remedies the
/// compiler has (<see cref="CompilerRemedies"/>) and, where canonicalization runs, what it folds away.
/// </summary>
public static class Auditing
{
    /// <param name="sizes">Sizes of symbolic dimensions, so that MACs and shape limits can be judged.</param>
    public static AuditReport Run(string path, IReadOnlyList<Capability> targets, IReadOnlyDictionary<string, long> sizes, IDiagnostics diagnostics)
    {
        var bytes = OnnxImporter.ReadFile(path);
        var model = OnnxImporter.Load(bytes, path);
        InputShapes.Bind(model, sizes); // also runs shape inference: MACs and limits need shapes
        var remedies = CompilerRemedies.All().Add(new StudentRemedies(model));
        var folding = Folding(model, bytes, path, sizes, diagnostics);
        if (folding is not null) remedies.Add(folding);
        return AuditReport.Run(model, targets, remedies, judgedAs: folding is null ? null : folding.JudgedAs);
    }

    /// <summary>What canonicalization removes from the model as audited (<see cref="FoldRemedies"/>), found on a second copy
    /// imported from the same bytes. A model canonicalization refuses is still audited, node by node as written; then
    /// nothing is marked "fold", and a note says why.</summary>
    private static FoldRemedies? Folding(Model model, byte[] bytes, string path, IReadOnlyDictionary<string, long> sizes, IDiagnostics diagnostics)
    {
        try
        {
            var copy = OnnxImporter.Load(bytes, path);
            InputShapes.Bind(copy, sizes);
            return FoldRemedies.Of(model, copy);
        }
        catch (ArchNetException e)
        {
            diagnostics.Info($"canonicalization cannot run on this model ({e.Message.Split('\n')[0]}), so no node is marked 'fold'");
            return null;
        }
    }
}
