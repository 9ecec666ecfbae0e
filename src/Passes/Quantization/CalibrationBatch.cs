using ArchNet.IR;

namespace ArchNet.Passes.Quantization;

/// <summary>
/// Whether a graph written for one item (every non-constant input has leading dimension 1) computes each item of a
/// batch on its own when that leading dimension is widened, so that calibration can run many items in one inference
/// (ONNX Runtime is markedly faster per item on a batch). <see cref="ItemAxes"/> follows the item axis; calibration
/// only widens dimension 0 of value shapes, so every value with the items must keep them as its whole dimension 0
/// (a Reshape folding them into another dimension, a Concat of a constant fixed at one item makes the graph run item by
/// item). A Reshape whose constant target spells the item axis as 1 must copy it instead: <see cref="Reshapes"/> gives
/// those targets with a 0 (or -1) there.
/// </summary>
/// <param name="Batched">Values whose axis 0 is the item axis once the inputs are widened.</param>
/// <param name="Reshapes">Reshape nodes whose constant target must change, with the target that keeps the item axis.</param>
public sealed record CalibrationBatch(IReadOnlySet<Value> Batched, IReadOnlyDictionary<Node, long[]> Reshapes)
{
    /// <summary>The batching of <paramref name="model"/>'s graph, or null when it must run item by item.</summary>
    public static CalibrationBatch? Of(Model model)
    {
        var axes = ItemAxes.Of(model.Graph, model.Opset(""), everyValueLeads: true);
        if (axes is null || axes.Bound.Count > 0 || axes.Expansions.Count > 0) return null;
        return new CalibrationBatch(axes.Positions.Keys.ToHashSet(), axes.ReshapeTargets);
    }
}
