package slapdtest

// The demo directory: the Comune di Crema's staff as its Active Directory
// might hold them, in OpenLDAP's terms (inetOrgPerson, groupOfNames).
const (
	DemoSuffix = "dc=comune,dc=crema,dc=it"
	PeopleDN   = "ou=people," + DemoSuffix
	GroupsDN   = "ou=groups," + DemoSuffix

	// ServiceDN is the account Avanti searches the directory with.
	ServiceDN       = "cn=avanti,ou=services," + DemoSuffix
	ServicePassword = "Servizio-Avanti-2026"

	GroupAdmin      = "cn=avanti-admin," + GroupsDN       // mapped to admin
	GroupBackoffice = "cn=avanti-backoffice," + GroupsDN  // mapped to backoffice
	GroupOperators  = "cn=anagrafe-operatori," + GroupsDN // mapped to operator
	GroupTechnical  = "cn=ufficio-tecnico," + GroupsDN    // mapped to nothing
	// GroupDemographic is a groupOfUniqueNames, which the memberof
	// overlay ignores: only a group search finds its members.
	GroupDemographic = "cn=servizi-demografici," + GroupsDN

	// SharedMail is the mail of two users, for a filter matching both.
	SharedMail = "anagrafe@comune.crema.it"
)

// User is one of the demo directory's people.
type User struct {
	UID, DN             string
	CN, SN, DisplayName string
	Mail, Password      string
	Groups              []string // DNs
}

// DemoUsers are the demo directory's people.
var DemoUsers = []User{
	{UID: "mario.rossi", CN: "Mario Rossi", SN: "Rossi", Mail: "mario.rossi@comune.crema.it",
		Password: "Torrazzo-1284!", Groups: []string{GroupOperators}},
	{UID: "anna.bianchi", CN: "Anna Bianchi", SN: "Bianchi", DisplayName: "Anna Bianchi (Segreteria)",
		Mail: "anna.bianchi@comune.crema.it", Password: "Serio-fiume-1980", Groups: []string{GroupAdmin, GroupOperators}},
	{UID: "giulia.ferrari", CN: "Giulia Ferrari", SN: "Ferrari", Mail: SharedMail,
		Password: "Tortelli-cremaschi-7", Groups: []string{GroupOperators, GroupBackoffice}},
	{UID: "niccolo.foa", CN: "Niccolò Foà", SN: "Foà", Mail: "niccolo.foa@comune.crema.it",
		Password: "Duomo-di-Crema-1341", Groups: []string{GroupBackoffice}},
	{UID: "luca.verdi", CN: "Luca Verdi", SN: "Verdi", Mail: "luca.verdi@comune.crema.it",
		Password: "Lavori-pubblici-42", Groups: []string{GroupTechnical}},
	{UID: "paolo.conti", CN: "Paolo Conti", SN: "Conti", Mail: "paolo.conti@comune.crema.it",
		Password: "Stato-civile-2026", Groups: []string{GroupDemographic}},
	// A DN with a comma, parentheses and an asterisk, which a group filter
	// must escape.
	{UID: "maria.rossi", DN: `cn=Rossi\, Maria (*),` + PeopleDN, CN: "Rossi, Maria (*)", SN: "Rossi", Mail: SharedMail,
		Password: "Ufficio-anagrafe-3", Groups: []string{GroupOperators}},
}

func init() {
	for i, u := range DemoUsers {
		if u.DN == "" {
			DemoUsers[i].DN = "uid=" + u.UID + "," + PeopleDN
		}
	}
}

// DemoUser is the demo user with that uid; it panics if there is none.
func DemoUser(uid string) User {
	for _, u := range DemoUsers {
		if u.UID == uid {
			return u
		}
	}
	panic("slapdtest: no demo user " + uid)
}

// SeedDemo adds the demo directory: people, groups and the service
// account. The server's suffix must be DemoSuffix.
func (s *Server) SeedDemo() error {
	c, err := s.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	ou := func(name string) map[string][]string {
		return map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {name}}
	}
	for _, name := range []string{"people", "groups", "services"} {
		if err := add(c, "ou="+name+","+DemoSuffix, ou(name)); err != nil {
			return err
		}
	}
	if err := add(c, ServiceDN, map[string][]string{
		"objectClass":  {"organizationalRole", "simpleSecurityObject"},
		"cn":           {"avanti"},
		"description":  {"Avanti: searches the staff who sign in"},
		"userPassword": {HashPassword(ServicePassword)},
	}); err != nil {
		return err
	}
	members := map[string][]string{}
	for _, u := range DemoUsers {
		attrs := map[string][]string{
			"objectClass":  {"inetOrgPerson"},
			"uid":          {u.UID},
			"cn":           {u.CN},
			"sn":           {u.SN},
			"mail":         {u.Mail},
			"userPassword": {HashPassword(u.Password)},
		}
		if u.DisplayName != "" {
			attrs["displayName"] = []string{u.DisplayName}
		}
		if err := add(c, u.DN, attrs); err != nil {
			return err
		}
		for _, g := range u.Groups {
			members[g] = append(members[g], u.DN)
		}
	}
	for _, g := range []string{GroupAdmin, GroupBackoffice, GroupOperators, GroupTechnical} {
		if err := add(c, g, map[string][]string{
			"objectClass": {"groupOfNames"},
			"cn":          {firstValue(g)},
			"member":      members[g],
		}); err != nil {
			return err
		}
	}
	return add(c, GroupDemographic, map[string][]string{
		"objectClass":  {"groupOfUniqueNames"},
		"cn":           {firstValue(GroupDemographic)},
		"uniqueMember": members[GroupDemographic],
	})
}
