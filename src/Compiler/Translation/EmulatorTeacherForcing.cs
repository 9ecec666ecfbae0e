using ArchNet.Backends.Emulation;

namespace ArchNet.Compiler.Translation;

/// <summary>
/// The compiled teacher-forcing graph on the integer emulator (the golden model every backend matches). The graph is
/// bound to one item, as chips run it, so rows run one after another into one logits buffer.
/// </summary>
public sealed class EmulatorTeacherForcing(Emulator emulator, TranslationInputs names) : ITeacherForcing
{
    public void Run(int rows, long[] sourceIds, float[] sourceMask, long[] targetIds, LogitsVisitor visit)
    {
        var positions = sourceIds.Length / rows;
        float[] Row(int r)
        {
            int[] shape = [1, positions];
            var inputs = new Dictionary<string, Tensor>
            {
                [names.SourceIds] = Tensor.FromLongs(shape, sourceIds[(r * positions)..((r + 1) * positions)]),
                [names.SourceMask] = Tensor.FromFloats(shape, sourceMask[(r * positions)..((r + 1) * positions)]),
                [names.TargetIds] = Tensor.FromLongs(shape, targetIds[(r * positions)..((r + 1) * positions)]),
            };
            return emulator.Run(inputs).Outputs[names.Logits].ToReal();
        }
        // The emulator's caches fill on its first run and are read-only after it: the other rows may run at once.
        var first = Row(0);
        var all = new float[rows * first.Length];
        first.CopyTo(all, 0);
        Parallel.For(1, rows, r => Row(r).CopyTo(all, r * first.Length));
        visit(all);
    }
}
