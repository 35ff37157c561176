// The status API behind Entra ID: App Service authentication (authsettingsV2) on the function app.
// Every HTTP request needs a token for the status API's app registration (audience api://<clientId>), or it is
// answered 401 before any function runs; the functions then require the app role (STATUS_API_ROLE, set by
// functionapp.bicep) in the token. Event Grid's webhook keeps its own protection (the system key in its URL).
// The app registration, with the `Status.Read` role and assignment required, comes from
// infra/scripts/create-status-api-app.sh (Bicep cannot create Entra applications); see docs/deploy.md.
param siteName string
@description('Application (client) id of the status API app registration')
param clientId string

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: siteName
}

resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov reads every sites/config as the site's web config (the checks below are about the site itself,
  // whose settings are in functionapp.bicep) and CKV_AZURE_13 as v1 authsettings (properties.enabled):
  //checkov:skip=CKV_AZURE_13:This is App Service authentication, as authsettingsV2 (platform.enabled), not v1
  //checkov:skip=CKV_AZURE_222:Not this resource's setting: public access of the site is decided in functionapp.bicep
  parent: site
  name: 'authsettingsV2'
  //checkov:skip=CKV_AZURE_66:Failed request tracing is a web config setting of the site, not of its authentication
  //checkov:skip=CKV_AZURE_63:HTTP logging is a web config setting of the site; Application Insights logs requests
  properties: {
    platform: {
      enabled: true
    }
    //checkov:skip=CKV_AZURE_80:.NET Framework versions belong to web config; the app runs Python 3.11
    //checkov:skip=CKV_AZURE_88:Azure Files mounts belong to the site's storage settings, not to its authentication
    //checkov:skip=CKV_AZURE_65:Detailed error messages are a web config setting of the site, not of authentication
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      // Event Grid cannot present an Entra token: its deliveries carry the Functions system key instead. Event Grid
      // calls /runtime/webhooks/EventGrid?functionName=...; both spellings, should the match be case-sensitive.
      excludedPaths: [
        '/runtime/webhooks/EventGrid'
        '/runtime/webhooks/eventgrid'
      ]
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: clientId
          // The v2.0 issuer, because create-status-api-app.sh sets the registration's requestedAccessTokenVersion to
          // 2: Entra then issues v2 access tokens (iss <login endpoint>/<tenant>/v2.0, aud the client id). A
          // registration left at v1 would issue iss https://sts.windows.net/<tenant>/, which this issuer refuses.
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          // v2 tokens carry the client id as audience; api://<client id> is what callers ask a token for.
          allowedAudiences: [
            clientId
            'api://${clientId}'
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
    httpSettings: {
      requireHttps: true
    }
  }
}
