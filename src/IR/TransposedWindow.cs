namespace ArchNet.IR;

/// <summary>
/// ConvTranspose's arithmetic along one spatial axis: input element i and kernel tap k land on output
/// <c>i * stride + k * dilation - PadBefore</c>, and <c>Out</c> outputs are kept. An explicit output size (the
/// output_shape attribute) or auto_pad SAME_* sets the padding from the full output's size (ONNX: SAME_UPPER puts the
/// smaller half first, everything else the larger half); otherwise the output is
/// <c>stride * (size - 1) + outputPadding + (kernel - 1) * dilation + 1 - padBefore - padAfter</c>.
/// Written once here for shape inference, the emulator and the training lowering.
/// </summary>
public static class TransposedWindow
{
    /// <param name="size">input size along the axis</param>
    /// <param name="kernel">kernel size along the axis (before dilation)</param>
    /// <param name="stride">step between the landing places of consecutive inputs</param>
    /// <param name="dilation">step between kernel taps</param>
    /// <param name="padBefore">explicit padding cropped from the start (ignored under output_shape, SAME_* and VALID)</param>
    /// <param name="padAfter">explicit padding cropped from the end (likewise)</param>
    /// <param name="outputPadding">output_padding: extra outputs at the end (no input lands there but biases)</param>
    /// <param name="outputSize">output_shape's entry for the axis, or null</param>
    /// <param name="autoPad">NOTSET, SAME_UPPER, SAME_LOWER or VALID</param>
    public static (long PadBefore, long Out) Axis(long size, long kernel, long stride, long dilation, long padBefore, long padAfter,
        long outputPadding, long? outputSize, string autoPad)
    {
        var full = stride * (size - 1) + outputPadding + (kernel - 1) * dilation + 1;
        var target = outputSize ?? (autoPad is "SAME_UPPER" or "SAME_LOWER" ? size * stride : null);
        if (target is { } o)
        {
            var total = full - o;
            return (autoPad == "SAME_UPPER" ? total / 2 : total - total / 2, o);
        }
        if (autoPad == "VALID") return (0, full);
        return (padBefore, full - padBefore - padAfter);
    }

    /// <summary>The node's attributes for spatial axis <paramref name="axis"/> of <paramref name="spatial"/>, and that
    /// axis's geometry for an input of <paramref name="size"/> and a kernel of <paramref name="kernel"/>.</summary>
    public static (long PadBefore, long Out) Of(Node node, int axis, int spatial, long size, long kernel)
    {
        long Attr(string name, int index, long fallback) => node.GetInts(name) is { } v && v.Length > index ? v[index] : fallback;
        // output_shape may hold the spatial sizes only or the whole shape: its last entries are the spatial ones.
        var outputShape = node.GetInts("output_shape");
        return Axis(size, kernel, Attr("strides", axis, 1), Attr("dilations", axis, 1), Attr("pads", axis, 0), Attr("pads", axis + spatial, 0),
            Attr("output_padding", axis, 0), outputShape is { } os ? os[os.Length - spatial + axis] : null, node.GetString("auto_pad", "NOTSET"));
    }
}
