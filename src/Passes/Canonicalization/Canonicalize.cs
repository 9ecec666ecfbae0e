using ArchNet.IR;
using ArchNet.Passes.Rewriting;

namespace ArchNet.Passes.Canonicalization;

/// <summary>Fills in every type the op registry can infer.</summary>
public sealed class ShapePropagation : IPass
{
    public string Name => "shape-propagation";
    public bool OnlyInfersTypes => true;
    public int Run(Model model, PassContext context) => ShapeInference.Run(model.Graph);
}

/// <summary>Removes nodes and constants nobody reads.</summary>
public sealed class DeadCodeElimination : IPass
{
    public string Name => "dead-code";
    public int Run(Model model, PassContext context) => model.Graph.SelfAndSubgraphs().ToList().Sum(g => g.RemoveDeadCode());
}

/// <summary>The canonicalization pipeline: shapes, then the canonical rules to a fixed point, then dead code.</summary>
public static class Canonicalize
{
    /// <summary>The ops constant folding evaluates when all their inputs are constants.</summary>
    public static IEnumerable<string> FoldableOps => ConstantEvaluator.Supported.Order(StringComparer.Ordinal);

    public static IReadOnlyList<IPass> Passes() =>
    [
        new ShapePropagation(),
        new GreedyRewritePass("canonicalize", RuleCatalog.Canonical),
        new DeadCodeElimination(),
        new ShapePropagation(),
    ];

    /// <summary>Runs canonicalization on <paramref name="model"/> in place.</summary>
    public static IReadOnlyList<PassResult> Run(Model model, PassContext context) => new PassManager(Passes()).Run(model, context);
}
