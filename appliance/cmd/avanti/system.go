package main

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"avanti/appliance/config"
	"avanti/appliance/sysconf"
)

// systemCmd groups what concerns the VM itself rather than the appliance's
// data: the settings the setup page and the console write, and the text UI
// on the VM's console.
func systemCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "system", Short: "The VM's own settings: time zone, time servers, network"}
	cmd.AddCommand(systemApply())
	return cmd
}

// systemFile is data_dir/system/system.json unless --file says otherwise.
func systemFile(cmd *cobra.Command, file string) (string, error) {
	if file != "" {
		return file, nil
	}
	cfg, err := config.Load(cmd.Flags())
	if err != nil {
		return "", err
	}
	return filepath.Join(cfg.DataDir, "system", "system.json"), nil
}

func systemApply() *cobra.Command {
	var file, root string
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Apply system.json (as root): time zone, chrony's time servers, the systemd-networkd network",
		Long: `Reads the system settings the first-boot setup page and the console write
(data_dir/system/system.json), checks them and makes the system match:
/etc/localtime and /etc/timezone, /etc/chrony/sources.d/avanti.sources,
/etc/systemd/network/10-avanti.network (the previous one kept as .bak).
Only what differs is written; chronyd and systemd-networkd are told to
reload what changed. A static address that has not appeared after a
minute brings the previous network file back.

With --root every path is under that directory and no command runs.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			path, err := systemFile(cmd, file)
			if err != nil {
				return err
			}
			s, err := sysconf.Load(path)
			if errors.Is(err, fs.ErrNotExist) {
				log.Info("no system settings to apply", "file", path)
				return nil
			}
			if err != nil {
				return err
			}
			a := sysconf.System(log)
			if root != "" {
				a = &sysconf.Applier{Root: root, Log: log}
			}
			_, err = a.Apply(cmd.Context(), s)
			return err
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "the settings file (default: data_dir/system/system.json)")
	cmd.Flags().StringVar(&root, "root", "", "apply to a system tree under this directory, running no command")
	return cmd
}
