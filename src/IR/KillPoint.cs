using System.Diagnostics;

namespace ArchNet.IR;

/// <summary>
/// Fault injection for the tests only: a writer calls <see cref="Reached"/> between staging its bytes and renaming
/// them into place, and when the environment variable ARCHNETC_TEST_KILL_AT names that point the process kills itself
/// there (SIGKILL: no finally block, no cleanup), as a user's Ctrl-\ or an OOM killer would. This makes "killed while
/// writing" a deterministic test instead of a race against a timer. Unset in every normal run: then it does nothing.
/// </summary>
public static class KillPoint
{
    public const string Variable = "ARCHNETC_TEST_KILL_AT";

    /// <summary>The points, named by what has been staged and not yet renamed.</summary>
    public const string OnnxStaged = "onnx-staged", ArtifactsStaged = "artifacts-staged", ReportStaged = "report-staged";

    public static void Reached(string point)
    {
        if (Environment.GetEnvironmentVariable(Variable) == point)
            Process.GetCurrentProcess().Kill();
    }
}
