namespace ArchNet.Backends.Abstractions;

/// <summary>One spatial axis of a sliding window: the padding applied before the first element (auto_pad decides it
/// when set) and the number of outputs.</summary>
public readonly record struct WindowAxis(int PadBefore, int Out);

/// <summary>
/// ONNX's sliding-window arithmetic (Conv, MaxPool, AveragePool) along one spatial axis, under pads, strides,
/// dilations, auto_pad and ceil_mode: written once here, where the emulator, the C backend and plugins all read it,
/// so that a backend's windows cannot drift from the golden model's.
/// </summary>
public static class WindowGeometry
{
    /// <param name="size">input size along the axis</param>
    /// <param name="kernel">kernel size along the axis (before dilation)</param>
    /// <param name="stride">step between windows</param>
    /// <param name="dilation">step between kernel taps</param>
    /// <param name="padBefore">explicit padding before (ignored under auto_pad SAME_* and VALID)</param>
    /// <param name="padAfter">explicit padding after (likewise)</param>
    /// <param name="autoPad">NOTSET, SAME_UPPER, SAME_LOWER or VALID</param>
    /// <param name="ceilMode">ceil_mode of the pools: the last, partial window counts when it starts inside the
    /// input or its leading padding</param>
    public static WindowAxis Axis(int size, int kernel, int stride, int dilation, int padBefore, int padAfter, string autoPad, bool ceilMode)
    {
        var effective = (kernel - 1) * dilation + 1;
        if (autoPad is "SAME_UPPER" or "SAME_LOWER")
        {
            var o = (size + stride - 1) / stride;
            var total = Math.Max(0, (o - 1) * stride + effective - size);
            // SAME_UPPER puts the odd pixel at the end, SAME_LOWER at the start.
            return new(autoPad == "SAME_UPPER" ? total / 2 : total - total / 2, o);
        }
        if (autoPad == "VALID") return new(0, (size - effective) / stride + 1);
        var numerator = size + padBefore + padAfter - effective;
        var r = (ceilMode ? (numerator + stride - 1) / stride : numerator / stride) + 1;
        // With ceil_mode, the last window must start inside the input or its leading padding.
        if (ceilMode && (r - 1) * stride >= size + padBefore) r--;
        return new(padBefore, r);
    }

    /// <summary>
    /// ConvTranspose along one axis: input element i and tap k land on output <c>i * stride + k * dilation - PadBefore</c>;
    /// ONNX's pads, output_padding, output_shape (<paramref name="outputSize"/>) and auto_pad decide PadBefore and Out. The
    /// host's IR states the same rule for shape inference and training (<c>ArchNet.IR.TransposedWindow</c>); tests hold
    /// the two together.
    /// </summary>
    public static WindowAxis TransposedAxis(int size, int kernel, int stride, int dilation, int padBefore, int padAfter,
        int outputPadding, int? outputSize, string autoPad)
    {
        var full = stride * (size - 1) + outputPadding + (kernel - 1) * dilation + 1;
        var target = outputSize ?? (autoPad is "SAME_UPPER" or "SAME_LOWER" ? size * stride : null);
        // SAME_UPPER puts the smaller half of the cropped outputs first, everything else the larger half.
        if (target is { } o) return new(autoPad == "SAME_UPPER" ? (full - o) / 2 : full - o - (full - o) / 2, o);
        return autoPad == "VALID" ? new(0, full) : new(padBefore, full - padBefore - padAfter);
    }

    /// <summary>ConvTranspose: the inputs [Lo, Hi) along an axis of <paramref name="size"/> that a tap at offset
    /// <paramref name="shift"/> (tap * dilation - PadBefore) sends inside the <paramref name="outSize"/> outputs.</summary>
    public static (int Lo, int Hi) TransposedLanding(int shift, int stride, int size, int outSize)
    {
        var lo = Math.Clamp(shift >= 0 ? 0 : (-shift + stride - 1) / stride, 0, size);
        var hi = Math.Clamp(outSize - 1 - shift < 0 ? 0 : (outSize - 1 - shift) / stride + 1, lo, size);
        return (lo, hi);
    }
}
