using System.Text.Json;
using ArchNet.Frontend.Data;
using ArchNet.IR;
using ArchNet.Testing;

namespace ArchNet.Frontend.Tests;

/// <summary>
/// The committed teachers against their independent oracle: ONNX Runtime runs each teacher on all 10,000 t10k images
/// and must give PyTorch's committed logits within 1e-4 and the card's top-1 accuracy exactly. Every accuracy figure
/// the project reports is anchored on these files; a wrong input path (scaling, layout) or a re-export that drifted
/// would otherwise move both the original and the compiled model together and pass unnoticed.
/// </summary>
public sealed class TeacherLogitsTests
{
    public static TheoryData<string> Teachers() => [.. TestData.TeacherNames];

    [Theory]
    [MemberData(nameof(Teachers))]
    public void Teacher_OrtEqualsCommittedPyTorchLogits_AndScoresItsCard_OnAllOfT10k(string name)
    {
        var files = TestData.Teacher(name);
        var expected = Npy.Read(files.TestLogits).ToFloats();
        var images = Idx.Read(TestData.FashionMnist.TestImages);
        var labels = Idx.Read(TestData.FashionMnist.TestLabels).ToInt64s();
        Assert.Equal(10000, labels.Length);
        Assert.Equal(10000 * 10, expected.Length);

        var pixels = images.ToFloats();
        var model = File.ReadAllBytes(files.Onnx);
        using var options = new Microsoft.ML.OnnxRuntime.SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(model, options);
        var input = session.InputMetadata.Keys.Single();
        const int batch = 500;
        double maxDiff = 0;
        var correct = 0;
        for (var start = 0; start < 10000; start += batch)
        {
            var x = TensorData.FromFloats([batch, 1, 28, 28], pixels.AsSpan(start * 784, batch * 784).ToArray());
            var logits = OrtRunner.Run(session, new Dictionary<string, TensorData> { [input] = x }).Values.Single().ToFloats();
            Assert.Equal(batch * 10, logits.Length);
            for (var i = 0; i < batch; i++)
            {
                var row = logits.AsSpan(i * 10, 10);
                var want = expected.AsSpan((start + i) * 10, 10);
                for (var c = 0; c < 10; c++) maxDiff = Math.Max(maxDiff, Math.Abs(row[c] - want[c]));
                var top = 0;
                for (var c = 1; c < 10; c++) if (row[c] > row[top]) top = c;
                if (top == labels[start + i]) correct++;
            }
        }
        var card = JsonDocument.Parse(File.ReadAllText(files.Json)).RootElement.GetProperty("top1").GetDouble();
        Assert.True(maxDiff <= 1e-4, $"{name}: ORT differs from the committed PyTorch logits by up to {maxDiff:G3} (> 1e-4)");
        Assert.Equal(card, correct / 10000.0, 4);
    }
}
