using ArchNet.Backends.Abstractions;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Backends.Plugins.Tests;

/// <summary>The contract's window geometry (used by the emulator, the C backend and plugins) at its boundaries, and
/// against the IR's shape inference, which computes output sizes on its own.</summary>
public sealed class WindowGeometryTests
{
    [Theory]
    [InlineData("SAME_UPPER", 0)] // the odd padding pixel goes at the end
    [InlineData("SAME_LOWER", 1)] // ... or at the start
    public void SamePadding_PutsTheOddPixelWhereTheModeSays(string autoPad, int before) =>
        Assert.Equal(new WindowAxis(before, 5), WindowGeometry.Axis(5, 2, 1, 1, 0, 0, autoPad, false));

    [Fact]
    public void Valid_IgnoresExplicitPads() =>
        Assert.Equal(new WindowAxis(0, 2), WindowGeometry.Axis(5, 3, 2, 1, 1, 1, "VALID", false));

    [Fact]
    public void CeilMode_CountsThePartialLastWindow() =>
        Assert.Equal(new WindowAxis(0, 2), WindowGeometry.Axis(4, 3, 2, 1, 0, 0, "NOTSET", true)); // floor would give 1

    [Fact]
    public void CeilMode_DropsALastWindowThatStartsInTheTrailingPadding() =>
        Assert.Equal(new WindowAxis(0, 2), WindowGeometry.Axis(4, 1, 3, 1, 0, 2, "NOTSET", true)); // ceil(5/3)+1 = 3 would start at 6

    [Fact]
    public void Dilation_WidensTheKernel() =>
        Assert.Equal(new WindowAxis(1, 3), WindowGeometry.Axis(8, 3, 2, 2, 1, 1, "NOTSET", false)); // effective kernel 5: not the 4 of a plain 3x3

    [Fact]
    public void OutputSizes_AgreeWithTheIrShapeInference_OverAGridOfAttributes()
    {
        var compared = 0;
        foreach (var size in new[] { 4, 5, 7, 8 })
        foreach (var kernel in new[] { 1, 2, 3 })
        foreach (var stride in new[] { 1, 2, 3 })
        foreach (var dilation in new[] { 1, 2 })
        foreach (var autoPad in new[] { "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID" })
        foreach (var (before, after) in autoPad == "NOTSET" ? new[] { (0, 0), (1, 0), (0, 1), (1, 1), (2, 1) } : [(0, 0)])
        foreach (var ceil in new[] { false, true })
        {
            // Width one larger than height: the two axes are checked with different sizes.
            var (h, w) = (WindowGeometry.Axis(size, kernel, stride, dilation, before, after, autoPad, ceil),
                WindowGeometry.Axis(size + 1, kernel, stride, dilation, before, after, autoPad, ceil));
            if (h.Out < 1 || w.Out < 1 || before >= kernel || after >= kernel) continue; // not a legal pool
            var b = new GraphBuilder();
            var x = b.Input("x", 1, 1, size, size + 1);
            List<Attribute> attributes =
            [
                Attribute.Ints("kernel_shape", kernel, kernel), Attribute.Ints("strides", stride, stride),
                Attribute.Ints("dilations", dilation, dilation), Attribute.String("auto_pad", autoPad), Attribute.Int("ceil_mode", ceil ? 1 : 0),
            ];
            if (autoPad == "NOTSET") attributes.Add(Attribute.Ints("pads", before, before, after, after));
            var y = b.Op("MaxPool", [x], [.. attributes]);
            var dims = y.Shape!.ToArray()!;
            var what = $"MaxPool size {size} kernel {kernel} stride {stride} dilation {dilation} {autoPad} pads {before},{after} ceil {ceil}";
            Assert.True(dims[2] == h.Out && dims[3] == w.Out, $"{what}: IR infers {dims[2]}x{dims[3]}, the contract {h.Out}x{w.Out}");
            compared++;
        }
        Assert.True(compared > 500, $"only {compared} cases compared");
    }

    /// <summary>ConvTranspose's geometry is stated twice, in the contract (the emulator's landing ranges, the C backend,
    /// plugins) and in the IR (shape inference, training): both must give every padding and output size alike.</summary>
    [Fact]
    public void TransposedAxis_AgreesWithTheIr_OverAGridOfAttributes()
    {
        var compared = 0;
        foreach (var size in new[] { 1, 3, 4 })
        foreach (var kernel in new[] { 1, 2, 3 })
        foreach (var stride in new[] { 1, 2, 3 })
        foreach (var dilation in new[] { 1, 2 })
        foreach (var (before, after) in new[] { (0, 0), (1, 0), (0, 2), (1, 1) })
        foreach (var outputPadding in new[] { 0, 1 })
        foreach (var outputSize in new int?[] { null, size * stride, size * stride + 1 })
        foreach (var autoPad in new[] { "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID" })
        {
            var contract = WindowGeometry.TransposedAxis(size, kernel, stride, dilation, before, after, outputPadding, outputSize, autoPad);
            var ir = IR.TransposedWindow.Axis(size, kernel, stride, dilation, before, after, outputPadding, outputSize, autoPad);
            Assert.True((contract.PadBefore, contract.Out) == ((int)ir.PadBefore, (int)ir.Out),
                $"size {size} kernel {kernel} stride {stride} dilation {dilation} pads {before},{after} output_padding {outputPadding} " +
                $"output_shape {outputSize} {autoPad}: contract {contract}, IR {ir}");
            compared++;
        }
        Assert.True(compared > 2000, $"only {compared} cases compared");
    }
}
