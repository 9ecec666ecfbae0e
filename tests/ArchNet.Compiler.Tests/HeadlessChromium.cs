using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ArchNet.Compiler.Tests;

/// <summary>What a page did in the browser: every URL it requested, a value computed by a script in it, and a screenshot.</summary>
public sealed record PageVisit(IReadOnlyList<string> RequestedUrls, string ScriptResult, byte[] ScreenshotPng);

/// <summary>
/// Debian's headless Chromium driven through the DevTools protocol (its WebSocket, System.Net.WebSockets): the page's
/// own network requests are the Network domain's requestWillBeSent events of its target, which the browser's own
/// background traffic is not part of.
/// </summary>
public static class HeadlessChromium
{
    public static PageVisit Visit(string file, string script, int width = 1000, int height = 4200)
    {
        var profile = Directory.CreateTempSubdirectory("archnet-chromium-").FullName;
        var info = new ProcessStartInfo("chromium") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", $"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank" })
            info.ArgumentList.Add(a);
        Process browser;
        try { browser = Process.Start(info)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("chromium is not installed (scripts/setup.sh installs Debian's chromium)", e);
        }
        try
        {
            var endpoint = WaitForEndpoint(browser);
            _ = browser.StandardError.ReadToEndAsync(); // its log goes on; a full pipe would stop it
            using var cdp = new DevTools(endpoint);
            var target = cdp.Call("Target.createTarget", new JsonObject { ["url"] = "about:blank" })["targetId"]!.GetValue<string>();
            var session = cdp.Call("Target.attachToTarget", new JsonObject { ["targetId"] = target, ["flatten"] = true })["sessionId"]!.GetValue<string>();
            cdp.Call("Network.enable", new JsonObject(), session);
            cdp.Call("Page.enable", new JsonObject(), session);
            cdp.Call("Emulation.setDeviceMetricsOverride", new JsonObject { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false }, session);
            var url = new Uri(Path.GetFullPath(file)).AbsoluteUri;
            cdp.Call("Page.navigate", new JsonObject { ["url"] = url }, session);
            cdp.WaitFor("Page.loadEventFired", session, TimeSpan.FromSeconds(30));
            Thread.Sleep(500); // late requests (an image, a font) would still show up
            var result = cdp.Call("Runtime.evaluate", new JsonObject { ["expression"] = script, ["returnByValue"] = true }, session);
            var value = result["result"]?["value"]?.ToString() ?? throw new InvalidOperationException($"the script gave no value: {result}");
            var png = Convert.FromBase64String(cdp.Call("Page.captureScreenshot", new JsonObject { ["format"] = "png" }, session)["data"]!.GetValue<string>());
            var requests = cdp.Events("Network.requestWillBeSent", session).Select(e => e["request"]!["url"]!.GetValue<string>()).ToList();
            return new PageVisit(requests, value, png);
        }
        finally
        {
            try { browser.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            browser.WaitForExit(10_000);
            browser.Dispose();
            try { Directory.Delete(profile, recursive: true); } catch (IOException) { }
        }
    }

    private static Uri WaitForEndpoint(Process browser)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            var line = browser.StandardError.ReadLine() ?? throw new InvalidOperationException("chromium exited before it listened");
            if (Regex.Match(line, @"DevTools listening on (ws://\S+)") is { Success: true } m) return new Uri(m.Groups[1].Value);
        }
        throw new TimeoutException("chromium did not open its DevTools endpoint in 30 s");
    }

    /// <summary>A DevTools protocol connection: calls answered by id, events kept in arrival order.</summary>
    private sealed class DevTools : IDisposable
    {
        private readonly ClientWebSocket _socket = new();
        private readonly List<JsonObject> _events = [];
        private int _id;

        public DevTools(Uri endpoint)
        {
            _socket.Options.KeepAliveInterval = TimeSpan.Zero;
            _socket.ConnectAsync(endpoint, CancellationToken.None).GetAwaiter().GetResult();
        }

        public JsonObject Call(string method, JsonObject parameters, string? session = null)
        {
            var id = ++_id;
            var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters };
            if (session is not null) message["sessionId"] = session;
            _socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None).GetAwaiter().GetResult();
            while (true)
            {
                var reply = Receive(TimeSpan.FromSeconds(30));
                if (reply["id"]?.GetValue<int>() != id) { _events.Add(reply); continue; }
                if (reply["error"] is { } error) throw new InvalidOperationException($"{method}: {error}");
                return reply["result"]!.AsObject();
            }
        }

        public void WaitFor(string method, string session, TimeSpan timeout)
        {
            var clock = Stopwatch.StartNew();
            while (!_events.Any(e => Is(e, method, session)))
                _events.Add(Receive(timeout - clock.Elapsed));
        }

        public IEnumerable<JsonObject> Events(string method, string session)
        {
            // Drain what has arrived so far.
            while (true)
            {
                try { _events.Add(Receive(TimeSpan.FromMilliseconds(200))); }
                catch (TimeoutException) { break; }
            }
            return _events.Where(e => Is(e, method, session)).Select(e => e["params"]!.AsObject());
        }

        private static bool Is(JsonObject e, string method, string session) =>
            e["method"]?.GetValue<string>() == method && e["sessionId"]?.GetValue<string>() == session;

        private JsonObject Receive(TimeSpan timeout)
        {
            if (timeout <= TimeSpan.Zero) throw new TimeoutException("no DevTools message in time");
            using var cancel = new CancellationTokenSource(timeout);
            var buffer = new byte[1 << 16];
            using var text = new MemoryStream();
            while (true)
            {
                WebSocketReceiveResult r;
                try { r = _socket.ReceiveAsync(buffer, cancel.Token).GetAwaiter().GetResult(); }
                catch (OperationCanceledException) { throw new TimeoutException("no DevTools message in time"); }
                text.Write(buffer, 0, r.Count);
                if (r.EndOfMessage) break;
            }
            return JsonNode.Parse(text.ToArray())!.AsObject();
        }

        public void Dispose() => _socket.Dispose();
    }
}
