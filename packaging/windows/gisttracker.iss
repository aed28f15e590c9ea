; Inno Setup 6.3+ script: the Windows installer of GIST Study Tracker around the PyInstaller
; bundle. Built by `python packaging\build.py windows`, which passes the defines below:
;   iscc /DAppVersion=0.1.0 /DBundleDir=dist\gisttracker /DOutputDir=dist
;        /DIconFile=build\icons\gisttracker.ico packaging\windows\gisttracker.iss
;
; It installs per user by default (no administrator needed: research workstations are often
; locked down), or for all users if the person installing chooses so and may. It adds a
; Start-menu entry and an uninstaller. The uninstaller removes only the program files it
; installed: the site database and settings (%LOCALAPPDATA%\gisttracker,
; %APPDATA%\gisttracker) are the site's records and stay where they are.

#ifndef AppVersion
  #error Pass /DAppVersion=X.Y.Z (packaging\build.py does)
#endif
#ifndef BundleDir
  #define BundleDir "..\..\dist\gisttracker"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif

#define AppName "GIST Study Tracker"
#define WindowExe "gisttracker-window.exe"

[Setup]
; The AppId identifies the program across versions (upgrades replace, not duplicate, it).
; Never change it.
AppId={{5C3E8B2A-9D41-4F6B-8E27-1A7D3C9B6F10}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=GIST Study Tracker
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=GIST-Study-Tracker-{#AppVersion}-setup
#ifdef IconFile
SetupIconFile={#IconFile}
#endif
UninstallDisplayIcon={app}\{#WindowExe}
UninstallDisplayName={#AppName}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
; The program may be running during an upgrade or uninstall: ask to close it first.
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; An upgrade must not keep libraries of the previous version beside the new ones.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#WindowExe}"; WorkingDir: "{userdocs}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#WindowExe}"; WorkingDir: "{userdocs}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#WindowExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

; No [UninstallDelete] section, on purpose: per-user data is never removed by the uninstaller.
