namespace ArchNet.IR.Tests;

public sealed class QuantParamsTests
{
    [Fact]
    public void Equality_IsByValue_ScalesAndZeroPointsIncluded()
    {
        var a = QuantParams.PerTensor(4, false, 0.25f);
        var b = QuantParams.PerTensor(4, false, 0.25f);
        Assert.NotSame(a, b);
        Assert.Equal(a, b);
        Assert.True(a == b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, QuantParams.PerTensor(4, true, 0.25f));
        Assert.NotEqual(a, QuantParams.PerTensor(4, false, 0.5f));
        Assert.NotEqual(a, QuantParams.PerTensor(4, false, 0.25f, 1));
        Assert.NotEqual(a, QuantParams.PerTensor(8, false, 0.25f));
        var perChannel = new QuantParams(8, true, [0.1f, 0.2f], [0, 0], 0);
        Assert.Equal(perChannel, new QuantParams(8, true, [0.1f, 0.2f], [0, 0], 0));
        Assert.NotEqual(perChannel, new QuantParams(8, true, [0.1f, 0.3f], [0, 0], 0));
        Assert.NotEqual(perChannel, new QuantParams(8, true, [0.1f, 0.2f], [0, 0], 1));
    }
}
