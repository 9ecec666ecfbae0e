using ArchNet.Compiler;
using ArchNet.Testing;

namespace ArchNet.Compiler.Tests;

/// <summary>
/// Issue 6's acceptance setting for a shipped Fashion-MNIST teacher: 2048 training images for calibration (no labels
/// read), the whole t10k for evaluation with its labels, the shipped capability files, torch on one thread.
/// </summary>
internal static class AcceptanceSetting
{
    public static CompileOptions For(string teacher, string target, string outputDirectory)
    {
        var f = TestData.FashionMnist;
        return new CompileOptions(TestData.Teacher(teacher).Onnx, target, outputDirectory)
        {
            Calibration = $"idx:{f.TrainImages}:2048",
            Evaluation = $"idx:{f.TestImages}",
            EvaluationLabels = $"idx:{f.TestLabels}",
            TargetsDirectory = Path.Combine(TestData.RepoRoot, "targets"),
            Threads = 1,
        };
    }
}
