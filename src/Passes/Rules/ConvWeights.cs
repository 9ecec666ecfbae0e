namespace ArchNet.Passes.Rules;

/// <summary>
/// Weight layouts that exact rewrites and distillation's students both build ([M, C, kH, kW], row-major): written once,
/// so that a rule and the student that starts from the same function cannot drift apart.
/// </summary>
public static class ConvWeights
{
    /// <summary>1x1 weights (<paramref name="count"/> = M x C of them) as 3x3 kernels with each weight at the centre tap:
    /// the same function with pad 1.</summary>
    public static float[] CentreTap(ReadOnlySpan<float> weights1x1)
    {
        var w = new float[weights1x1.Length * 9];
        for (var i = 0; i < weights1x1.Length; i++) w[i * 9 + 4] = weights1x1[i];
        return w;
    }

    /// <summary>A grouped conv's weights [M, C/groups, k] as the dense conv's [M, C, k]: each output channel's block
    /// sits at its group's input channels, zeros elsewhere.</summary>
    public static float[] BlockDiagonal(ReadOnlySpan<float> grouped, long outChannels, long channelsPerGroup, long groups, long taps)
    {
        var inChannels = channelsPerGroup * groups;
        var w = new float[outChannels * inChannels * taps];
        var perGroup = outChannels / groups;
        for (long o = 0; o < outChannels; o++)
        {
            var first = o / perGroup * channelsPerGroup;
            for (long i = 0; i < channelsPerGroup; i++)
                grouped.Slice((int)((o * channelsPerGroup + i) * taps), (int)taps).CopyTo(w.AsSpan((int)((o * inChannels + first + i) * taps)));
        }
        return w;
    }

    /// <summary>1x1 weights [C, C x signs] over channel-concatenated parts that sum them: output channel i takes channel i
    /// of each part with that part's sign (+1 adds a part, -1 subtracts it).</summary>
    public static float[] SumOfParts(int channels, IReadOnlyList<int> signs)
    {
        var parts = signs.Count;
        var w = new float[channels * parts * channels];
        for (var p = 0; p < parts; p++)
            for (var i = 0; i < channels; i++) w[i * parts * channels + p * channels + i] = signs[p];
        return w;
    }
}
