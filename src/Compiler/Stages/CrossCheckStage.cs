using ArchNet.Backends.Onnx;
using ArchNet.Backends.Reference;
using ArchNet.Frontend;
using ArchNet.Frontend.Data;
using ArchNet.IR;
using ArchNet.Passes;

namespace ArchNet.Compiler.Stages;

/// <summary>The QDQ artifact against the golden model (<see cref="Check"/>). It runs after the emit stage, so that the
/// onnx backend's artifact is checked as written rather than built a second time.</summary>
public sealed class CrossCheckStage(CompileState state) : Stage(state)
{
    /// <summary>Evaluation items the QDQ artifact runs in ONNX Runtime.</summary>
    public const int Items = 8;

    public override string Name => "cross-check";

    protected override int Execute(Model model)
    {
        State.CrossCheck = Check(model, State.Evaluation, State.Fidelity);
        return 0;
    }

    /// <summary>
    /// The QDQ artifact (the onnx backend's model, built here whatever the backend) run by ONNX Runtime on the first
    /// evaluation items, against the golden model's integers from the fidelity run: the share of output integers equal
    /// and the largest difference. ORT runs it as a user would, with all its optimizations (QDQ groups fused into its
    /// integer kernels); where ORT rejects the optimized model (ORT 1.31's QDQ fusions move 4-bit activations into
    /// kernels that have no 4-bit types), that is warned and the check runs at ORT's basic level (constant folding, no QDQ
    /// fusion), which is also how a user must load such an artifact; and says so. A model ORT cannot run at all is
    /// reported, not fatal: the chip's own backend may still be right.
    /// </summary>
    private CrossCheckFigures Check(Model model, Dataset eval, FidelityResult fidelity)
    {
        var (items, expected) = (fidelity.FirstItems, fidelity.FirstIntegers);
        if (items == 0 || expected.Count == 0) return new(items, 0, 0, 0);
        // The onnx backend's artifact as it was written (the emit stage runs first), else the QDQ model built here.
        var bytes = State.Backend is OnnxQdqBackend && State.Artifacts.Any(a => a.RelativePath == OnnxQdqBackend.ArtifactName)
            ? File.ReadAllBytes(Path.Combine(Options.OutputDirectory, OnnxQdqBackend.ArtifactName))
            : OnnxExporter.ToBytes(QdqWriter.Build(model));
        ReferenceRunner ort;
        string? optimizedError = null;
        try
        {
            ort = new ReferenceRunner(bytes, optimizations: OrtOptimizations.All);
        }
        catch (ArchNetException optimized)
        {
            Diagnostics.Warning($"cross-check: with all its optimizations, {optimized.Message}; checking at its basic level " +
                "(GraphOptimizationLevel.ORT_ENABLE_BASIC), which is how this artifact must be loaded");
            optimizedError = optimized.Message;
            try
            {
                ort = new ReferenceRunner(bytes, optimizations: OrtOptimizations.Basic);
            }
            catch (ArchNetException e)
            {
                Diagnostics.Warning($"cross-check: {e.Message}");
                return new(items, 0, 0, 0, false, optimizedError, e.Message);
            }
        }
        using (ort)
        {
            // The graph outputs are DequantizeLinear's (q - z) * s in float32: q comes back exactly, at any width.
            var quant = model.Graph.Outputs.Where(o => expected.ContainsKey(o.Name)).ToDictionary(o => o.Name, o => o.Quant!);
            long total = 0, equal = 0, maxLsb = 0;
            for (var i = 0; i < items; i++)
            {
                Dictionary<string, TensorData> run;
                try
                {
                    run = ort.Run(eval.Arrays.ToDictionary(kv => kv.Key, kv => DataLoader.Slice(kv.Value, i, 1)));
                }
                catch (ArchNetException e)
                {
                    Diagnostics.Warning($"cross-check: {e.Message}");
                    return new(items, 0, 0, 0, optimizedError is null, optimizedError, e.Message);
                }
                foreach (var (output, q) in quant)
                {
                    var golden = expected[output];
                    var values = run[output].ToFloats();
                    var perItem = golden.Count / items;
                    if (values.Length != perItem)
                        return new(items, 0, 0, 0, optimizedError is null, optimizedError, $"output '{output}' has {values.Length} values per item in ONNX Runtime, {perItem} in the golden model");
                    for (var k = 0; k < perItem; k++)
                    {
                        var d = Math.Abs(golden[i * perItem + k] - ((long)Math.Round(values[k] / q.Scales[0]) + q.ZeroPoints[0]));
                        if (d == 0) equal++;
                        maxLsb = Math.Max(maxLsb, d);
                        total++;
                    }
                }
            }
            return new(items, total, Math.Round((double)equal / total, 6), maxLsb, optimizedError is null, optimizedError);
        }
    }
}
