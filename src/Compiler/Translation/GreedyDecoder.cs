using ArchNet.IR;

namespace ArchNet.Compiler.Translation;

/// <summary>The logits of a run, [rows, positions, vocabulary], valid only during the call.</summary>
public delegate void LogitsVisitor(ReadOnlySpan<float> logits);

/// <summary>
/// A translation model's teacher-forcing graph: source ids and mask and a target prefix in, the next-token logits at
/// every target position out. The original runs it in ONNX Runtime, the compiled model in the integer emulator.
/// </summary>
public interface ITeacherForcing
{
    /// <summary>Runs <paramref name="rows"/> rows of [rows, positions] arrays and hands the logits to <paramref name="visit"/>.</summary>
    void Run(int rows, long[] sourceIds, float[] sourceMask, long[] targetIds, LogitsVisitor visit);
}

/// <summary>Ids a translation model reserves.</summary>
public sealed record SpecialTokens(int Pad = 0, int Bos = 2, int Eos = 3);

/// <summary>
/// Greedy decoding as translation cards state it: BOS, then at each position the arg-max token (ties to the lowest
/// id), stopping at EOS or when the target positions run out (31 tokens for 32 positions). Each step reruns the full
/// teacher-forcing graph on the prefix so far (the graph has no cache), on a batch of sources at once; sources that
/// reached EOS leave the batch.
/// </summary>
public sealed class GreedyDecoder(ITeacherForcing model, SpecialTokens tokens, int batch = 64)
{
    /// <summary>
    /// Translates the <paramref name="count"/> rows of <paramref name="sourceIds"/>/<paramref name="sourceMask"/>
    /// ([count, positions]); returns each row's tokens without BOS and EOS.
    /// </summary>
    public int[][] Decode(long[] sourceIds, float[] sourceMask, int count, IDiagnostics diagnostics, string title = "decoding")
    {
        if (count == 0) return [];
        var positions = sourceIds.Length / count;
        if (positions * count != sourceIds.Length || sourceMask.Length != sourceIds.Length)
            throw new ArchNetException($"source ids ({sourceIds.Length} values) and mask ({sourceMask.Length}) do not form {count} rows of equal length");
        var result = new int[count][];
        using var progress = diagnostics.BeginProgress(title, count);
        for (var start = 0; start < count; start += batch)
        {
            var rows = Math.Min(batch, count - start);
            DecodeBatch(sourceIds, sourceMask, start, rows, positions, result);
            progress.Advance(rows);
        }
        return result;
    }

    private void DecodeBatch(long[] sourceIds, float[] sourceMask, int start, int rows, int positions, int[][] result)
    {
        var produced = Enumerable.Range(0, rows).Select(_ => new List<int>()).ToArray();
        var active = Enumerable.Range(0, rows).ToList();
        var prefix = new long[rows * positions];
        for (var r = 0; r < rows; r++) prefix[r * positions] = tokens.Bos;
        for (var t = 0; t + 1 < positions && active.Count > 0; t++)
        {
            var n = active.Count;
            var src = new long[n * positions];
            var mask = new float[n * positions];
            var tgt = new long[n * positions];
            for (var i = 0; i < n; i++)
            {
                var row = active[i];
                Array.Copy(sourceIds, (start + row) * positions, src, i * positions, positions);
                Array.Copy(sourceMask, (start + row) * positions, mask, i * positions, positions);
                Array.Copy(prefix, row * positions, tgt, i * positions, positions);
            }
            var next = new int[n];
            model.Run(n, src, mask, tgt, logits =>
            {
                var vocabulary = logits.Length / (n * positions);
                for (var i = 0; i < n; i++)
                    next[i] = Top1.ArgMax(logits.Slice((i * positions + t) * vocabulary, vocabulary));
            });
            var still = new List<int>(n);
            for (var i = 0; i < n; i++)
            {
                var row = active[i];
                if (next[i] == tokens.Eos) continue;
                produced[row].Add(next[i]);
                prefix[row * positions + t + 1] = next[i];
                still.Add(row);
            }
            active = still;
        }
        for (var r = 0; r < rows; r++) result[start + r] = [.. produced[r]];
    }
}
