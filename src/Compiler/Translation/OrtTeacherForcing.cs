using ArchNet.Backends.Reference;
using ArchNet.IR;

namespace ArchNet.Compiler.Translation;

/// <summary>The original teacher-forcing graph in ONNX Runtime: the float reference of a translation score.</summary>
public sealed class OrtTeacherForcing(ReferenceRunner runner, TranslationInputs names) : ITeacherForcing
{
    public void Run(int rows, long[] sourceIds, float[] sourceMask, long[] targetIds, LogitsVisitor visit)
    {
        var positions = sourceIds.Length / rows;
        long[] dims = [rows, positions];
        var inputs = new Dictionary<string, TensorData>
        {
            [names.SourceIds] = TensorData.FromInt64s(dims, sourceIds),
            [names.SourceMask] = TensorData.FromFloats(dims, sourceMask),
            [names.TargetIds] = TensorData.FromInt64s(dims, targetIds),
        };
        runner.Run(inputs, [names.Logits], (_, _, data) => visit(data));
    }
}

/// <summary>Which graph inputs and output play which part in a teacher-forcing translation graph.</summary>
public sealed record TranslationInputs(string SourceIds = "src_ids", string SourceMask = "src_mask", string TargetIds = "tgt_ids",
    string Logits = "logits");
