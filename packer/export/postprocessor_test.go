package export

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

const (
	diskSize  = 64 << 20 // the test disk's virtual size
	dataBytes = 2 << 20  // bytes of data written into it
)

// diskArtifact is what the qemu builder hands over: its disk and the UEFI
// variable store beside it.
type diskArtifact struct {
	files []string
	state map[string]interface{}
}

func (a *diskArtifact) BuilderId() string             { return "transcend.qemu" }
func (a *diskArtifact) Files() []string               { return a.files }
func (a *diskArtifact) Id() string                    { return "VM" }
func (a *diskArtifact) String() string                { return "test disk" }
func (a *diskArtifact) State(name string) interface{} { return a.state[name] }
func (a *diskArtifact) Destroy() error                { return nil }

func needQemuImg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img is missing: apt-get install qemu-utils (scripts/debdeps installs it)")
	}
}

// testDisk makes a 64 MiB qcow2 holding 1 MiB of data at its start and
// 1 MiB at 32 MiB, the way a builder leaves its disk, plus efivars.fd.
func testDisk(t *testing.T) *diskArtifact {
	t.Helper()
	needQemuImg(t)
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	f, err := os.Create(raw)
	must(t, err)
	must(t, f.Truncate(diskSize))
	chunk := bytes.Repeat([]byte("avanti!\n"), (1<<20)/8)
	_, err = f.WriteAt(chunk, 0)
	must(t, err)
	_, err = f.WriteAt(chunk, 32<<20)
	must(t, err)
	must(t, f.Close())
	disk := filepath.Join(dir, "avanti")
	qemuImgRun(t, "convert", "-f", "raw", "-O", "qcow2", raw, disk)
	must(t, os.Remove(raw))
	efivars := filepath.Join(dir, "efivars.fd")
	must(t, os.WriteFile(efivars, make([]byte, 4096), 0o644))
	return &diskArtifact{files: []string{efivars, disk}, state: map[string]interface{}{"diskName": "avanti"}}
}

func qemuImgRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("qemu-img", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func configured(t *testing.T, raw map[string]interface{}) *PostProcessor {
	t.Helper()
	p := new(PostProcessor)
	if err := p.Configure(raw); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return p
}

func TestConfigureFillsDefaults(t *testing.T) {
	c := configured(t, map[string]interface{}{}).config
	if strings.Join(c.Formats, ",") != "qcow2,ova,vhdx" || c.OutputDir != "export" || c.Name != "avanti" ||
		c.QemuImg != "qemu-img" || c.CPUs != 2 || c.Memory != 2048 || c.Firmware != "efi" ||
		c.VMwareOSType != "debian11_64Guest" {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestConfigureRejectsBadConfig(t *testing.T) {
	cases := []struct {
		name string
		raw  map[string]interface{}
		want string
	}{
		{"unknown format", map[string]interface{}{"formats": []string{"qcow2", "vdi"}}, `unknown format "vdi"`},
		{"format twice", map[string]interface{}{"formats": []string{"ova", "OVA"}}, "listed twice"},
		{"name with a slash", map[string]interface{}{"image_name": "../avanti"}, "image_name:"},
		{"name with a space", map[string]interface{}{"image_name": "my appliance"}, "image_name:"},
		{"no cpus", map[string]interface{}{"cpus": -1}, "cpus:"},
		{"little memory", map[string]interface{}{"memory": 128}, "memory:"},
		{"odd firmware", map[string]interface{}{"firmware": "coreboot"}, "firmware:"},
		{"bad disk pattern", map[string]interface{}{"disk": "["}, "disk:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := new(PostProcessor).Configure(tc.raw)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Configure = %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestPickDisk(t *testing.T) {
	cases := []struct {
		name    string
		files   []string
		state   map[string]interface{}
		pattern string
		want    string // "" means an error
	}{
		{"the builder's disk by name", []string{"out/efivars.fd", "out/avanti", "out/data"}, map[string]interface{}{"diskName": "avanti"}, "", "out/avanti"},
		{"the only image", []string{"out/efivars.fd", "out/avanti.qcow2"}, nil, "", "out/avanti.qcow2"},
		{"a pattern", []string{"out/a.qcow2", "out/b.qcow2"}, nil, "b.*", "out/b.qcow2"},
		{"a pattern matching nothing", []string{"out/a.qcow2"}, nil, "c.*", ""},
		{"two images", []string{"out/a.qcow2", "out/b.qcow2"}, nil, "", ""},
		{"no files", nil, nil, "", ""},
		{"only firmware", []string{"out/efivars.fd"}, nil, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pickDisk(&diskArtifact{files: tc.files, state: tc.state}, tc.pattern)
			if tc.want == "" && err == nil {
				t.Errorf("pickDisk = %q, want an error", got)
			}
			if tc.want != "" && (err != nil || got != tc.want) {
				t.Errorf("pickDisk = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestExportWritesEveryFormat(t *testing.T) {
	in := testDisk(t)
	out := filepath.Join(t.TempDir(), "out")
	p := configured(t, map[string]interface{}{
		"output_directory": out, "image_name": "avanti-1.2.3",
		"formats": []string{"qcow2", "ova", "vhdx", "vmdk"}, "cpus": 4, "memory": 4096,
	})
	art, keep, force, err := p.PostProcess(context.Background(), packersdk.TestUi(t), in)
	if err != nil {
		t.Fatalf("PostProcess: %v", err)
	}
	if keep || force {
		t.Errorf("keep=%v force=%v, want the user's keep_input_artifact to decide", keep, force)
	}
	want := []string{"avanti-1.2.3.qcow2", "avanti-1.2.3.ova", "avanti-1.2.3.vhdx", "avanti-1.2.3.vmdk", "SHA256SUMS"}
	var got []string
	for _, f := range art.Files() {
		got = append(got, filepath.Base(f))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("files %v, want %v", got, want)
	}
	entries, err := os.ReadDir(out)
	must(t, err)
	if len(entries) != len(want) {
		t.Errorf("%d entries in the output directory, want %d (no leftovers)", len(entries), len(want))
	}

	src := in.files[1]
	for _, tc := range []struct{ file, format string }{
		{"avanti-1.2.3.qcow2", "qcow2"}, {"avanti-1.2.3.vhdx", "vhdx"}, {"avanti-1.2.3.vmdk", "vmdk"},
	} {
		path := filepath.Join(out, tc.file)
		checkImage(t, path, tc.format)
		// Same bytes as the builder's disk, whatever the container.
		qemuImgRun(t, "compare", "-f", "qcow2", "-F", tc.format, src, path)
	}
	if info := qemuImgRun(t, "info", filepath.Join(out, "avanti-1.2.3.vmdk")); !strings.Contains(info, "streamOptimized") {
		t.Errorf("vmdk is not stream-optimised:\n%s", info)
	}
	if info := qemuImgRun(t, "info", filepath.Join(out, "avanti-1.2.3.vhdx")); !strings.Contains(info, "file format: vhdx") {
		t.Errorf("not a vhdx:\n%s", info)
	}

	checkSums(t, out, want[:4])
	checkOVA(t, filepath.Join(out, "avanti-1.2.3.ova"), src)
}

// checkImage reads an exported file back with qemu-img.
func checkImage(t *testing.T, path, format string) {
	t.Helper()
	info, err := qemuImg{path: "qemu-img"}.info(context.Background(), path)
	must(t, err)
	if info.Format != format || info.VirtualSize != diskSize {
		t.Errorf("%s: format %s, virtual size %d; want %s, %d", filepath.Base(path), info.Format, info.VirtualSize, format, diskSize)
	}
}

func checkSums(t *testing.T, dir string, files []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	must(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != len(files) {
		t.Fatalf("SHA256SUMS has %d lines, want %d:\n%s", len(lines), len(files), b)
	}
	line := regexp.MustCompile(`^([0-9a-f]{64})  (\S+)$`)
	seen := map[string]bool{}
	prev := ""
	for _, l := range lines {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("SHA256SUMS line %q is not in sha256sum's format", l)
		}
		if sum := sha256File(t, filepath.Join(dir, m[2])); sum != m[1] {
			t.Errorf("SHA256SUMS says %s for %s, it is %s", m[1], m[2], sum)
		}
		if m[2] < prev {
			t.Errorf("SHA256SUMS not sorted: %s after %s", m[2], prev)
		}
		prev = m[2]
		seen[m[2]] = true
	}
	for _, f := range files {
		if !seen[f] {
			t.Errorf("SHA256SUMS lacks %s", f)
		}
	}
	if sha256sum, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command(sha256sum, "--check", "--strict", "SHA256SUMS")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum --check: %v\n%s", err, out)
		}
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkOVA opens the OVA as an importer would: descriptor first, then the
// manifest, then the disk, all in plain ustar.
func checkOVA(t *testing.T, path, src string) {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	var names []string
	contents := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		if h.Format != tar.FormatUSTAR || h.Typeflag != tar.TypeReg {
			t.Errorf("%s: format %v type %c, want a plain ustar file", h.Name, h.Format, h.Typeflag)
		}
		names = append(names, h.Name)
		b, err := io.ReadAll(tr)
		must(t, err)
		contents[h.Name] = b
	}
	wantOrder := []string{"avanti-1.2.3.ovf", "avanti-1.2.3.mf", "avanti-1.2.3-disk1.vmdk"}
	if strings.Join(names, " ") != strings.Join(wantOrder, " ") {
		t.Fatalf("OVA holds %v, want %v in that order", names, wantOrder)
	}

	mf := string(contents["avanti-1.2.3.mf"])
	for _, name := range []string{"avanti-1.2.3.ovf", "avanti-1.2.3-disk1.vmdk"} {
		sum := sha256.Sum256(contents[name])
		want := fmt.Sprintf("SHA256(%s)= %x\n", name, sum)
		if !strings.Contains(mf, want) {
			t.Errorf("manifest lacks %q:\n%s", want, mf)
		}
	}
	if n := strings.Count(mf, "\n"); n != 2 {
		t.Errorf("manifest has %d lines, want 2:\n%s", n, mf)
	}

	vmdk := filepath.Join(t.TempDir(), "disk1.vmdk")
	must(t, os.WriteFile(vmdk, contents["avanti-1.2.3-disk1.vmdk"], 0o644))
	checkImage(t, vmdk, "vmdk")
	qemuImgRun(t, "compare", "-f", "qcow2", "-F", "vmdk", src, vmdk)

	checkOVF(t, contents["avanti-1.2.3.ovf"], int64(len(contents["avanti-1.2.3-disk1.vmdk"])))
}

// The parts of the OVF a hypervisor reads, as encoding/xml sees them.
type envelope struct {
	XMLName    xml.Name `xml:"http://schemas.dmtf.org/ovf/envelope/1 Envelope"`
	References struct {
		Files []struct {
			Href string `xml:"http://schemas.dmtf.org/ovf/envelope/1 href,attr"`
			ID   string `xml:"http://schemas.dmtf.org/ovf/envelope/1 id,attr"`
			Size int64  `xml:"http://schemas.dmtf.org/ovf/envelope/1 size,attr"`
		} `xml:"File"`
	} `xml:"References"`
	Disks []struct {
		Capacity      int64  `xml:"http://schemas.dmtf.org/ovf/envelope/1 capacity,attr"`
		Units         string `xml:"http://schemas.dmtf.org/ovf/envelope/1 capacityAllocationUnits,attr"`
		DiskID        string `xml:"http://schemas.dmtf.org/ovf/envelope/1 diskId,attr"`
		FileRef       string `xml:"http://schemas.dmtf.org/ovf/envelope/1 fileRef,attr"`
		Format        string `xml:"http://schemas.dmtf.org/ovf/envelope/1 format,attr"`
		PopulatedSize int64  `xml:"http://schemas.dmtf.org/ovf/envelope/1 populatedSize,attr"`
	} `xml:"DiskSection>Disk"`
	Networks []struct {
		Name string `xml:"http://schemas.dmtf.org/ovf/envelope/1 name,attr"`
	} `xml:"NetworkSection>Network"`
	System struct {
		ID   string `xml:"http://schemas.dmtf.org/ovf/envelope/1 id,attr"`
		Info string `xml:"Info"`
		OS   struct {
			ID     int    `xml:"http://schemas.dmtf.org/ovf/envelope/1 id,attr"`
			OSType string `xml:"http://www.vmware.com/schema/ovf osType,attr"`
		} `xml:"OperatingSystemSection"`
		Hardware struct {
			Info   string `xml:"Info"`
			System struct {
				Elements []rawElement `xml:",any"`
			} `xml:"System"`
			Items  []item `xml:"Item"`
			Config []struct {
				Key   string `xml:"http://www.vmware.com/schema/ovf key,attr"`
				Value string `xml:"http://www.vmware.com/schema/ovf value,attr"`
			} `xml:"http://www.vmware.com/schema/ovf Config"`
		} `xml:"VirtualHardwareSection"`
	} `xml:"VirtualSystem"`
}

type rawElement struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

type item struct {
	Elements []rawElement `xml:",any"`
}

func (it item) get(name string) string {
	for _, e := range it.Elements {
		if e.XMLName.Local == name {
			return e.Value
		}
	}
	return ""
}

const (
	rasdNS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
	vssdNS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
)

// The sequences of CIM_ResourceAllocationSettingData.xsd and
// CIM_VirtualSystemSettingData.xsd that DSP8023 validates Item and System
// against: elements must appear in this order.
var (
	rasdOrder = []string{"Address", "AddressOnParent", "AllocationUnits", "AutomaticAllocation",
		"AutomaticDeallocation", "Caption", "Connection", "ConsumerVisibility", "Description",
		"ElementName", "HostResource", "InstanceID", "Limit", "MappingBehavior", "OtherResourceType",
		"Parent", "PoolID", "Reservation", "ResourceSubType", "ResourceType", "VirtualQuantity",
		"VirtualQuantityUnits", "Weight"}
	vssdOrder = []string{"AutomaticRecoveryAction", "AutomaticShutdownAction", "AutomaticStartupAction",
		"AutomaticStartupActionDelay", "AutomaticStartupActionSequenceNumber", "Caption",
		"ConfigurationDataRoot", "ConfigurationFile", "ConfigurationID", "CreationTime", "Description",
		"ElementName", "InstanceID", "LogDataRoot", "Notes", "RecoveryFile", "SnapshotDataRoot",
		"SuspendDataRoot", "SwapFileDataRoot", "VirtualSystemIdentifier", "VirtualSystemType"}
)

// checkOrder fails unless elements are in namespace ns, in the schema's
// order, with the required ElementName and InstanceID.
func checkOrder(t *testing.T, what string, elements []rawElement, ns string, order []string) {
	t.Helper()
	pos := map[string]int{}
	for i, n := range order {
		pos[n] = i
	}
	last := -1
	have := map[string]bool{}
	for _, e := range elements {
		p, ok := pos[e.XMLName.Local]
		if e.XMLName.Space != ns || !ok {
			t.Errorf("%s: unexpected element {%s}%s", what, e.XMLName.Space, e.XMLName.Local)
			continue
		}
		if p <= last && e.XMLName.Local != "Connection" && e.XMLName.Local != "HostResource" {
			t.Errorf("%s: %s out of the schema's order", what, e.XMLName.Local)
		}
		last = p
		have[e.XMLName.Local] = true
	}
	if !have["ElementName"] || !have["InstanceID"] {
		t.Errorf("%s: ElementName and InstanceID are required", what)
	}
}

func checkOVF(t *testing.T, descriptor []byte, vmdkSize int64) {
	t.Helper()
	var env envelope
	if err := xml.Unmarshal(descriptor, &env); err != nil {
		t.Fatalf("the OVF is not XML: %v\n%s", err, descriptor)
	}
	if len(env.References.Files) != 1 || env.References.Files[0].Href != "avanti-1.2.3-disk1.vmdk" ||
		env.References.Files[0].Size != vmdkSize {
		t.Errorf("References: %+v, want the vmdk of %d bytes", env.References.Files, vmdkSize)
	}
	if len(env.Disks) != 1 {
		t.Fatalf("%d disks", len(env.Disks))
	}
	d := env.Disks[0]
	if d.Capacity != diskSize || d.Units != "byte" || d.FileRef != env.References.Files[0].ID ||
		!strings.HasSuffix(d.Format, "#streamOptimized") {
		t.Errorf("Disk: %+v", d)
	}
	if d.PopulatedSize != dataBytes {
		t.Errorf("populatedSize %d, want the %d bytes written", d.PopulatedSize, dataBytes)
	}
	if len(env.Networks) != 1 || env.Networks[0].Name != "VM Network" {
		t.Errorf("Networks: %+v", env.Networks)
	}
	vs := env.System
	if vs.ID != "avanti-1.2.3" || vs.OS.ID != 96 || vs.OS.OSType != "debian11_64Guest" {
		t.Errorf("VirtualSystem id %q, OS %+v", vs.ID, vs.OS)
	}
	checkOrder(t, "System", vs.Hardware.System.Elements, vssdNS, vssdOrder)

	byType := map[string]item{}
	ids := map[string]bool{}
	for i, it := range vs.Hardware.Items {
		checkOrder(t, fmt.Sprintf("Item %d", i+1), it.Elements, rasdNS, rasdOrder)
		byType[it.get("ResourceType")] = it
		if ids[it.get("InstanceID")] {
			t.Errorf("InstanceID %s twice", it.get("InstanceID"))
		}
		ids[it.get("InstanceID")] = true
	}
	if cpu := byType["3"]; cpu.get("VirtualQuantity") != "4" {
		t.Errorf("CPU item: %+v", cpu)
	}
	if mem := byType["4"]; mem.get("VirtualQuantity") != "4096" || mem.get("AllocationUnits") != "byte * 2^20" {
		t.Errorf("memory item: %+v", mem)
	}
	scsi := byType["6"]
	if scsi.get("ResourceSubType") != "lsilogic" {
		t.Errorf("SCSI controller: %+v", scsi)
	}
	if _, ok := byType["5"]; !ok {
		t.Error("no IDE controller")
	}
	if disk := byType["17"]; disk.get("HostResource") != "ovf:/disk/"+d.DiskID || disk.get("Parent") != scsi.get("InstanceID") {
		t.Errorf("disk item: %+v", disk)
	}
	if nic := byType["10"]; nic.get("Connection") != "VM Network" {
		t.Errorf("network item: %+v", nic)
	}
	if c := vs.Hardware.Config; len(c) != 1 || c[0].Key != "firmware" || c[0].Value != "efi" {
		t.Errorf("vmw:Config: %+v", c)
	}
}

func TestExportRefusesToOverwriteWithoutForce(t *testing.T) {
	in := testDisk(t)
	out := t.TempDir()
	must(t, os.WriteFile(filepath.Join(out, "avanti.qcow2"), []byte("older build"), 0o644))
	p := configured(t, map[string]interface{}{"output_directory": out, "formats": []string{"qcow2"}})
	if _, _, _, err := p.PostProcess(context.Background(), packersdk.TestUi(t), in); err == nil || !strings.Contains(err.Error(), "-force") {
		t.Fatalf("PostProcess = %v, want a refusal pointing at -force", err)
	}
	p = configured(t, map[string]interface{}{"output_directory": out, "formats": []string{"qcow2"}, "packer_force": true})
	if _, _, _, err := p.PostProcess(context.Background(), packersdk.TestUi(t), in); err != nil {
		t.Fatalf("PostProcess with -force: %v", err)
	}
	checkImage(t, filepath.Join(out, "avanti.qcow2"), "qcow2")
	checkSums(t, out, []string{"avanti.qcow2"})
}

func TestExportFailsClearlyWithoutQemuImg(t *testing.T) {
	in := testDisk(t)
	p := configured(t, map[string]interface{}{"output_directory": t.TempDir(), "qemu_img": "/nonexistent/qemu-img"})
	_, _, _, err := p.PostProcess(context.Background(), packersdk.TestUi(t), in)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/qemu-img") {
		t.Fatalf("PostProcess = %v, want an error naming qemu-img", err)
	}
}

func TestDescriptorEscapesWhatItQuotes(t *testing.T) {
	b, err := descriptor(ovfParams{Name: "a<b", DiskFile: `d"1.vmdk`, Capacity: 1, CPUs: 1, MemoryMiB: 512, Firmware: "bios", VMwareOSType: "other"})
	must(t, err)
	var env envelope
	if err := xml.Unmarshal(b, &env); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	if env.System.ID != "a<b" || env.References.Files[0].Href != `d"1.vmdk` {
		t.Errorf("round trip: %q %q", env.System.ID, env.References.Files[0].Href)
	}
}

// TestDescriptorValidatesAgainstTheDMTFSchema validates the descriptor with
// xmllint against DMTF's OVF envelope schema (DSP8023, with the CIM schemas
// it imports) when AVANTI_OVF_XSD names its dsp8023 .xsd file. The schemas
// are DMTF's and not shipped here; TestExportWritesEveryFormat checks the
// element order they require.
func TestDescriptorValidatesAgainstTheDMTFSchema(t *testing.T) {
	xsd := os.Getenv("AVANTI_OVF_XSD")
	if xsd == "" {
		t.Skip("AVANTI_OVF_XSD is not set")
	}
	b, err := descriptor(ovfParams{Name: "avanti-1.0.0", DiskFile: "avanti-1.0.0-disk1.vmdk", DiskFileSize: 1 << 29,
		Capacity: 8 << 30, PopulatedSize: 1 << 30, CPUs: 2, MemoryMiB: 2048, Firmware: "efi", VMwareOSType: "debian11_64Guest"})
	must(t, err)
	ovf := filepath.Join(t.TempDir(), "avanti.ovf")
	must(t, os.WriteFile(ovf, b, 0o644))
	if out, err := exec.Command("xmllint", "--noout", "--nonet", "--schema", xsd, ovf).CombinedOutput(); err != nil {
		t.Fatalf("xmllint: %v\n%s", err, out)
	}
}

func TestExportFailsWholeAndLeavesNoBrokenFile(t *testing.T) {
	in := testDisk(t)
	out := t.TempDir()
	// A directory where qemu-img must write the VHDX makes that format fail.
	must(t, os.Mkdir(filepath.Join(out, "avanti.vhdx.partial"), 0o755))
	p := configured(t, map[string]interface{}{"output_directory": out, "formats": []string{"qcow2", "vhdx"}})
	_, _, _, err := p.PostProcess(context.Background(), packersdk.TestUi(t), in)
	if err == nil || !strings.Contains(err.Error(), "vhdx:") {
		t.Fatalf("PostProcess = %v, want the vhdx failure", err)
	}
	for _, name := range []string{"avanti.vhdx", "SHA256SUMS"} {
		if _, err := os.Stat(filepath.Join(out, name)); !os.IsNotExist(err) {
			t.Errorf("%s exists after a failed export", name)
		}
	}
}
