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
}
