using TorchSharp;
using static TorchSharp.torch;

namespace ArchNet.Passes.Distillation.Tests;

public sealed class TorchSharpLoadTests
{
    [Fact]
    public void NativeLibrary_Loads_AndMultipliesMatrices()
    {
        using var a = tensor(new float[] { 1, 2, 3, 4, 5, 6 }, new long[] { 2, 3 });
        using var b = tensor(new float[] { 7, 8, 9, 10, 11, 12 }, new long[] { 3, 2 });

        using var c = matmul(a, b);

        Assert.Equal(new long[] { 2, 2 }, c.shape);
        Assert.Equal(new float[] { 58, 64, 139, 154 }, c.data<float>().ToArray());
    }

    [Fact]
    public void Autograd_ComputesGradientOfSquare()
    {
        using var x = tensor(new float[] { 1, -2, 3 }).requires_grad_();
        using var loss = (x * x).sum();

        loss.backward();

        Assert.Equal(new float[] { 2, -4, 6 }, x.grad!.data<float>().ToArray());
    }

    [Fact]
    public void Tests_RunWithOneTorchThread()
    {
        Assert.Equal(1, get_num_threads());
    }
}
