namespace ArchNet.IR;

/// <summary>One output index of Resize along one axis: input indices I0 and I1 with weights W0 and W1 (nearest: I1 = I0,
/// W1 = 0).</summary>
public readonly record struct ResizeTap(int I0, int I1, float W0, float W1);

/// <summary>
/// Resize (opset 11+) as per-axis taps: nearest and linear, coordinate transformations half_pixel, pytorch_half_pixel,
/// align_corners and asymmetric, every nearest_mode; sized by scales or sizes. Linear over several axes is the product of
/// the axes' weights. Written once here for the emulator and the training lowering.
/// </summary>
public static class ResizeTaps
{
    /// <summary>Why the node's form is not covered, or null when it is.</summary>
    public static string? Unsupported(Node node, int inputCount)
    {
        // Opset 10's form (X, scales) predates the coordinate transformations; from 11: (X, roi, scales, sizes).
        if (inputCount < 3) return "Resize of opset 10 (inputs X, scales)";
        var mode = node.GetString("mode", "nearest");
        if (mode is not ("nearest" or "linear")) return $"Resize mode '{mode}'";
        var transform = node.GetString("coordinate_transformation_mode", "half_pixel");
        if (transform is not ("half_pixel" or "pytorch_half_pixel" or "align_corners" or "asymmetric"))
            return $"Resize coordinate_transformation_mode '{transform}'";
        if (node.GetInt("antialias", 0) != 0 || node.GetInts("axes") is not null) return "Resize with antialias or axes";
        return null;
    }

    /// <summary>Output sizes and the scales the coordinates use: from <paramref name="sizes"/> when given (scale =
    /// out / in), else floor(in * scale).</summary>
    public static (int[] Out, float[] Scales) Sizes(int[] input, float[]? scales, long[]? sizes)
    {
        var rank = input.Length;
        var outDims = new int[rank];
        var used = new float[rank];
        for (var d = 0; d < rank; d++)
            (outDims[d], used[d]) = sizes is { Length: > 0 }
                ? ((int)sizes[d], (float)sizes[d] / input[d])
                : scales is not null ? ((int)Math.Floor(input[d] * scales[d]), scales[d]) : throw new ArgumentException("Resize needs scales or sizes");
        return (outDims, used);
    }

    /// <summary>The taps of every output index along one axis.</summary>
    public static ResizeTap[] Axis(Node node, int inSize, int outSize, float scale)
    {
        var mode = node.GetString("mode", "nearest");
        var transform = node.GetString("coordinate_transformation_mode", "half_pixel");
        var nearestMode = node.GetString("nearest_mode", "round_prefer_floor");
        var taps = new ResizeTap[outSize];
        for (var o = 0; o < outSize; o++)
        {
            float original = transform switch
            {
                "half_pixel" => (o + 0.5f) / scale - 0.5f,
                "pytorch_half_pixel" => outSize > 1 ? (o + 0.5f) / scale - 0.5f : 0f,
                "align_corners" => outSize == 1 ? 0f : o * (float)(inSize - 1) / (outSize - 1),
                _ => o / scale,
            };
            if (mode == "nearest")
            {
                var i = nearestMode switch
                {
                    "round_prefer_ceil" => (int)MathF.Round(original, MidpointRounding.AwayFromZero),
                    "floor" => (int)MathF.Floor(original),
                    "ceil" => (int)MathF.Ceiling(original),
                    _ => original == MathF.Floor(original) + 0.5f ? (int)MathF.Floor(original) : (int)MathF.Round(original),
                };
                i = Math.Clamp(i, 0, inSize - 1);
                taps[o] = new(i, i, 1f, 0f);
            }
            else
            {
                var c = Math.Clamp(original, 0f, inSize - 1);
                var i0 = (int)c;
                taps[o] = new(i0, Math.Min(i0 + 1, inSize - 1), 1f - (c - i0), c - i0);
            }
        }
        return taps;
    }
}
