using ArchNet.Testing;
using ArchNet.IR;

namespace ArchNet.Capabilities.Tests;

/// <summary>Malformed capability files: each kind of mistake is reported as <c>file:line:col: expected ..., found ...</c>.</summary>
public sealed class LoaderErrorTests
{
    private static string LoadError(string json) =>
        Assert.Throws<ArchNetException>(() => CapabilityLoader.LoadText(json, "chip.json")).Message;

    /// <summary>Line and column (1-based) of the first occurrence of <paramref name="marker"/> in <paramref name="text"/>.</summary>
    private static string At(string text, string marker)
    {
        var i = text.IndexOf(marker, StringComparison.Ordinal);
        Assert.True(i >= 0, $"marker {marker} not in text");
        var before = text[..i];
        var line = before.Count(c => c == '\n') + 1;
        var col = i - (before.LastIndexOf('\n') + 1) + 1;
        return $"chip.json:{line}:{col}";
    }

    [Fact]
    public void BadJson_NamesLineAndColumn()
    {
        var text = Fixtures.CapabilityJson("""{ "Relu": {} }""").Replace("\"vendor\": \"Test\",", "\"vendor\": \"Test\" \"oops\": 1,");
        var message = LoadError(text);
        Assert.StartsWith(At(text, "\"oops\"") + ": expected valid JSON, found a syntax error", message);
    }

    [Fact]
    public void CommentsAndTrailingCommas_AreAccepted()
    {
        var text = "// a chip\n" + Fixtures.CapabilityJson("""{ "Relu": {}, /* more later */ }""");
        Assert.NotNull(CapabilityLoader.LoadText(text, "chip.json").Find("", "Relu"));
    }

    [Fact]
    public void UnknownKey_NamesTheKeyAndItsPosition()
    {
        var text = Fixtures.CapabilityJson("""{ "Conv": { "constraints": [ { "kind": "range", "atribute": "strides", "max": 3 } ] } }""");
        var message = LoadError(text);
        Assert.StartsWith(At(text, "\"atribute\"") + ": expected one of the keys", message);
        Assert.EndsWith("found unknown key \"atribute\"", message);
    }

    [Fact]
    public void UnknownOpName_IsRejected_WithASuggestion()
    {
        var text = Fixtures.CapabilityJson("""{ "Relu": {}, "Convolution": {} }""");
        var message = LoadError(text);
        Assert.StartsWith(At(text, "\"Convolution\"") + ": expected an ONNX op name, found \"Convolution\"", message);
        Assert.Contains("did you mean", message);
    }

    [Fact]
    public void CustomDomainOps_AreTheVendorsBusiness()
    {
        var chip = CapabilityLoader.LoadText(Fixtures.CapabilityJson("""{ "com.vendor:FancyConv": {} }"""), "chip.json");
        Assert.NotNull(chip.Find("com.vendor", "FancyConv"));
    }

    [Fact]
    public void RangeWithMinAboveMax_IsRejected()
    {
        var text = Fixtures.CapabilityJson("""{ "Conv": { "constraints": [ { "kind": "range", "attribute": "strides", "min": 3, "max": 2 } ] } }""");
        var message = LoadError(text);
        Assert.Equal(At(text, "3, \"max\"") + ": expected min <= max, found min 3 > max 2", message);
    }

    [Fact]
    public void BitWidthTheNumericsDoNotAllow_IsRejected()
    {
        // Numerics allow 8-bit weights and activations only; int16 is quantized data of another width.
        var text = Fixtures.CapabilityJson("""{ "Add": { "constraints": [ { "kind": "types", "tensor": "inputs", "allowed": ["int8", "int16"] } ] } }""");
        var message = LoadError(text);
        Assert.Equal(At(text, "\"int16\"") + ": expected a bit width the numerics allow (weights 8; activations 8), found \"int16\" (16 bits)", message);
    }

    [Fact]
    public void WrongValueType_IsRejected()
    {
        var text = Fixtures.CapabilityJson("""{ "Conv": { "constraints": [ { "kind": "dim", "dim": "input[0].dim[1]", "max": "512" } ] } }""");
        Assert.Equal(At(text, "\"512\"") + ": expected a number, found \"512\"", LoadError(text));
    }

    [Fact]
    public void BadRelation_IsRejected()
    {
        var text = Fixtures.CapabilityJson("""{ "Conv": { "constraints": [ { "kind": "relation", "expr": "pads is small" } ] } }""");
        Assert.StartsWith(At(text, "\"pads is small\"") + ": expected a relation", LoadError(text));
    }

    /// <summary>
    /// The shipped capability files with characters deleted, duplicated or replaced (seeded, 400 per file): each either
    /// loads or is refused with <c>file:line:col: ...</c> on one line; never another exception.
    /// </summary>
    [Theory]
    [InlineData("arm-ethos-u55")]
    [InlineData("archnet-transformer")]
    [InlineData("rockchip-rk3588")]
    public void CorruptedShippedFiles_LoadOrAreRefusedAtAPosition(string target)
    {
        var original = File.ReadAllText(Path.Combine(TestData.RepoRoot, "targets", target + ".json"));
        const string replacements = "{}[]\",:0-9.aeE \n/*";
        var (loaded, bad) = (0, new List<string>());
        for (var seed = 0; seed < 400; seed++)
        {
            var rng = new Random(seed);
            var text = new System.Text.StringBuilder(original);
            for (var k = 0; k < 1 + rng.Next(3); k++)
            {
                var at = rng.Next(text.Length);
                switch (rng.Next(3))
                {
                    case 0: text.Remove(at, 1); break;
                    case 1: text.Insert(at, text[at]); break;
                    default: text[at] = replacements[rng.Next(replacements.Length)]; break;
                }
            }
            var fault = Corruption.Fault(() => { CapabilityLoader.LoadText(text.ToString(), "chip.json"); loaded++; },
                refused => System.Text.RegularExpressions.Regex.IsMatch(refused.Message, @"^chip\.json:\d+:\d+: "));
            if (fault is not null) bad.Add($"seed {seed}: {fault}");
        }
        Assert.True(bad.Count == 0, string.Join("\n", bad.Take(20)));
        Assert.InRange(loaded, 1, 399);
    }
}
