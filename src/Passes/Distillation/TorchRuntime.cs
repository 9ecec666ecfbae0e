using TorchSharp;

namespace ArchNet.Passes.Distillation;

/// <summary>Process-wide TorchSharp settings that the distillation pass relies on.</summary>
public static class TorchRuntime
{
    /// <summary>
    /// Limits torch's intra-op and inter-op thread pools. On a small shared machine two torch
    /// threads slow down several times as soon as anything else runs, so callers choose.
    /// </summary>
    public static void UseThreads(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        torch.set_num_threads(threads);
    }
}
