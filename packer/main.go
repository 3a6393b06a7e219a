// Command packer-plugin-avanti is the Packer plugin that builds the Avanti
// appliance image: the provisioner "avanti" and the post-processor
// "avanti-export". See README.md.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/packer-plugin-sdk/plugin"
	"github.com/hashicorp/packer-plugin-sdk/version"

	"avanti/packer/export"
	"avanti/packer/provision"
)

// Version is the plugin's own version, reported to `packer plugins` and in
// `packer-plugin-avanti describe`.
var Version = version.NewPluginVersion("0.1.0", "", "")

func main() {
	set := plugin.NewSet()
	set.RegisterProvisioner(plugin.DEFAULT_NAME, new(provision.Provisioner))
	set.RegisterPostProcessor("export", new(export.PostProcessor))
	set.SetVersion(Version)
	if err := set.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
