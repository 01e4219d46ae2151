/*
 * shellrun FILE: runs the command line in FILE (UTF-8, one line) the way
 * Node's child_process.spawn(line, {shell: true}) does on Windows, which is
 * how Claude Code runs an MCP server's headersHelper:
 *
 *     %ComSpec% /d /s /c "LINE"
 *
 * passed verbatim to CreateProcess (Node's windowsVerbatimArguments), so
 * that cmd.exe reads the line's quotes itself. The line comes from a file
 * so that no other program's argument quoting touches it. Standard output
 * and error are inherited; the exit code is the command's.
 *
 * For the Wine test suite (cmd/broker/windows_wine_test.go), built with
 * mingw-w64 at test time.
 */
#include <windows.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

int wmain(int argc, wchar_t **argv)
{
	if (argc != 2) {
		fwprintf(stderr, L"usage: shellrun FILE\n");
		return 2;
	}
	FILE *f = _wfopen(argv[1], L"rb");
	if (!f) {
		fwprintf(stderr, L"shellrun: cannot open %ls\n", argv[1]);
		return 2;
	}
	static char line[32768];
	size_t n = fread(line, 1, sizeof line - 1, f);
	fclose(f);
	line[n] = 0;
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = 0;

	static wchar_t wline[32768], comspec[MAX_PATH], cmd[40000];
	if (!MultiByteToWideChar(CP_UTF8, 0, line, -1, wline, 32768)) {
		fwprintf(stderr, L"shellrun: the line is not UTF-8\n");
		return 2;
	}
	if (!GetEnvironmentVariableW(L"ComSpec", comspec, MAX_PATH))
		wcscpy(comspec, L"cmd.exe");
	_snwprintf(cmd, 40000, L"%ls /d /s /c \"%ls\"", comspec, wline);

	STARTUPINFOW si;
	PROCESS_INFORMATION pi;
	memset(&si, 0, sizeof si);
	si.cb = sizeof si;
	if (!CreateProcessW(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
		fwprintf(stderr, L"shellrun: CreateProcess failed: %lu\n", GetLastError());
		return 2;
	}
	WaitForSingleObject(pi.hProcess, INFINITE);
	DWORD code = 1;
	GetExitCodeProcess(pi.hProcess, &code);
	return (int)code;
}
